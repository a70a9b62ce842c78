#!/usr/bin/env python3
"""Every public item of the library has a Rust example in its docs, or a doc line with "Example" that links
(intra-doc) to an item or module whose docs have one. Run by tests/architecture.rs. Usage:
check-examples.py [repo root] [path prefix ...]; exits 1 and lists the items when some have neither."""
import os,re,sys
root=sys.argv[1] if len(sys.argv)>1 else '.'
filters=sys.argv[2:]
BIN={'src/cli.rs','src/term.rs','src/settings.rs','src/help.rs','src/main.rs'}
ITEM=re.compile(r'^(\s*)pub (?:async |unsafe |const )?(fn|struct|enum|trait|const|static|type|mod) (\w+)')
FENCE=re.compile(r'^\s*(///|//!)\s*```(rust|no_run|ignore|should_panic|compile_fail|edition\d+)?[\s,]*(no_run|ignore|should_panic)?\s*$')
files={}
for d,_,fs in os.walk(os.path.join(root,'src')):
    for f in fs:
        if f.endswith('.rs'):
            p=os.path.relpath(os.path.join(d,f),root)
            if p not in BIN: files[p]=open(os.path.join(root,p)).read()
def strip_tests(t):
    i=t.find('#[cfg(test)]\nmod tests')
    return t if i<0 else t[:i]
def has_fence(lines): return any(FENCE.match(l) for l in lines)
def module_file(segs):
    base='src/'+'/'.join(segs)
    for c in (base+'.rs', base+'/mod.rs'):
        if c in files: return c
    if not segs: return 'src/lib.rs'
    return None
def items_of(path):
    """name -> (doc lines) for every item in a file, plus 'Type::method' for methods in impl blocks."""
    t=strip_tests(files[path]); lines=t.split('\n'); out={}; impl=None; depth=0; impl_depth=None
    for i,l in enumerate(lines):
        m=re.match(r'^\s*impl(?:<[^>]*>)?\s+(?:[\w:<>, ]+\s+for\s+)?(\w+)',l)
        if m and impl is None: impl=m.group(1); impl_depth=depth
        mm=ITEM.match(l) or re.match(r'^(\s*)(?:pub(?:\([\w:]+\))? )?(?:async |const )?(fn|struct|enum|trait|const|static|type|mod|macro_rules!) ?(\w+)',l)
        if mm:
            doc=[]; j=i-1
            while j>=0 and (lines[j].strip().startswith('///') or lines[j].strip().startswith('#[') or lines[j].strip().startswith('#![')==False and lines[j].strip().startswith('#[')):
                if lines[j].strip().startswith('///'): doc.insert(0,lines[j])
                j-=1
            name=mm.group(3)
            key=f'{impl}::{name}' if impl and mm.group(2)=='fn' and len(mm.group(1))>0 else name
            out.setdefault(key,doc)
            if key!=name: out.setdefault(name,doc)
        depth+=l.count('{')-l.count('}')
        if impl is not None and depth<=impl_depth and '}' in l: impl=None
    return out
def mod_doc(path): return [l for l in files[path].split('\n') if l.strip().startswith('//!')]
def has_example_target(target, here):
    target=target.strip('`').split('#')[0]
    target=re.sub(r'\(\)$','',target)
    for pre in ('fn@','struct@','mod@','enum@','method@','const@','type@','trait@'):
        target=target.replace(pre,'')
    segs=[s for s in target.split('::') if s]
    if not segs: return False
    if segs[0]=='crate': segs=segs[1:]
    elif segs[0]=='self': segs=here_segs(here)+segs[1:]
    elif segs[0]=='super': segs=here_segs(here)[:-1]+segs[1:]
    elif segs[0]=='cohere_bundle': segs=segs[1:]
    else:
        # relative: an item in this file, or a path from this module
        f=here
        it=items_of(f)
        if '::'.join(segs) in it: return has_fence(it['::'.join(segs)])
        segs=here_segs(here)+segs
    f=module_file(segs)
    if f: return has_fence(mod_doc(f))
    for k in (1,2):
        f=module_file(segs[:-k])
        if f:
            it=items_of(f); key='::'.join(segs[-k:])
            if key in it: return has_fence(it[key])
    return False
def here_segs(path):
    p=path[len('src/'):-3]
    segs=p.split('/')
    if segs[-1] in ('mod','lib'): segs=segs[:-1]
    return segs
LINK=re.compile(r'\[`?([^\]`]+)`?\](?:\(([^)]+)\))?')
bad=[];total=0
for path,t in sorted(files.items()):
    if filters and not any(path.startswith(f) for f in filters): continue
    t=strip_tests(t); lines=t.split('\n')
    in_macro=False
    for i,l in enumerate(lines):
        m=ITEM.match(l)
        if not m: continue
        kind,name=m.group(2),m.group(3)
        if kind=='mod' and l.rstrip().endswith(';'):
            f=module_file(here_segs(path)+[name])
            doc=mod_doc(f) if f else []
        else:
            doc=[]; j=i-1
            while j>=0 and (lines[j].strip().startswith('///') or lines[j].strip().startswith('#[')):
                if lines[j].strip().startswith('///'): doc.insert(0,lines[j])
                j-=1
        total+=1
        if has_fence(doc): continue
        ok=False
        for dl in doc:
            if 'xample' not in dl: continue
            for lm in LINK.finditer(dl):
                target=lm.group(2) or lm.group(1)
                if has_example_target(target, path): ok=True
        if not ok: bad.append(f'{path}:{i+1}: {kind} {name}')
print(f'{total} public items, {len(bad)} without an example or a link to one')
for b in bad: print(b)
sys.exit(1 if bad else 0)
