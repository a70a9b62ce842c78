// cohere-bundle observe: sends the fetch requests a Node program makes to the Cohere API through the
// recording proxy, so that SDKs that ignore CO_API_URL (cohere-ai, @ai-sdk/cohere) are observed without code
// changes. Only requests for the hosts in COHERE_BUNDLE_OBSERVE_HOSTS change; all other traffic is untouched.
// Loaded with `node --import` through NODE_OPTIONS; turn it off with `cohere-bundle observe --no-node-preload`.
const proxy = process.env.COHERE_BUNDLE_OBSERVE_PROXY;
const hosts = new Set((process.env.COHERE_BUNDLE_OBSERVE_HOSTS || '').split(',').filter(Boolean));
const original = globalThis.fetch;

function redirect(url) {
  const u = new URL(url);
  if (!hosts.has(u.host)) return null;
  const base = new URL(proxy);
  return new URL(base.pathname.replace(/\/$/, '') + u.pathname + u.search, base).toString();
}

if (proxy && typeof original === 'function') {
  globalThis.fetch = function cohereBundleFetch(input, init) {
    try {
      if (input instanceof Request) {
        const to = redirect(input.url);
        if (to) {
          const opts = { method: input.method, headers: input.headers, signal: input.signal, redirect: input.redirect };
          if (input.body) Object.assign(opts, { body: input.body, duplex: 'half' });
          input = new Request(to, opts);
        }
      } else {
        const to = redirect(input instanceof URL ? input.href : String(input));
        if (to) input = to;
      }
    } catch {
      // Anything unexpected: the request goes out as the program made it.
    }
    return original.call(this, input, init);
  };
  globalThis.__cohereBundleObserve = proxy;
}
