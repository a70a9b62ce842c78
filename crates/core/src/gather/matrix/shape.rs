//! Gather stage. Variants of a request along the input axis: every text the model reads is cut or grown to reach a target
//! input size, and the size reached is measured on the variant itself.
//!
//! The texts varied ([`Slot`]s) are the ones the API counts ([`crate::tokens::input_texts`]) that can change
//! without breaking the request: message text of every role (string content and `{type:"text"}` parts), tool
//! results (v2 tool messages' content and document parts, legacy `tool_results`; v1 `tool_results` and
//! `chat_history` tool results, outputs only), documents (v2 and v1 `documents`; every string but `id`), v1
//! `preamble`, `chat_history` messages and `message`, generate's `prompt`, embed `texts` and the text parts of
//! `inputs`, rerank `documents` (strings or objects), and the compatibility API's chat `messages` (as v2's) and
//! embeddings `input` (a string, or a list whose items are dropped first). Tool definitions, tool call arguments (JSON), tool plans,
//! the rerank query and images stay as they are.
//!
//! Shrinking cuts the largest texts first (a common cap: texts shorter than the cap keep their length), never
//! below one unit a text; growing scales every text by the same factor. Embed and rerank lists first lose items
//! from the end (the number of texts or documents is an API limit of its own), then the one item left is cut.

use std::sync::Arc;

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::cohere::Endpoint;
use crate::gather::tokenizer;

/// One text the model reads that the sweep cuts or grows.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// JSON pointer to the string.
    pub pointer: String,
    text: String,
    /// Its size in units: tokens with a tokenizer, characters without.
    pub own: u64,
    /// The list item (embed text or input, rerank document) it belongs to.
    item: Option<usize>,
}

/// A list whose length is varied before its texts are cut: embed texts or inputs, rerank documents.
#[derive(Debug, Clone)]
pub(super) struct Items {
    pointer: String,
    /// `texts` or `documents`.
    pub name: &'static str,
    /// Units of each item (every text of it the model reads, varied or not).
    units: Vec<u64>,
}

/// One variant of the request.
#[derive(Debug, Clone)]
pub(super) struct Variant {
    pub body: Value,
    /// Input tokens measured on `body` (estimated from characters without a tokenizer).
    pub tokens: u64,
    /// The input tokens it was built for.
    pub target: u64,
    /// Items kept, for list axes.
    pub items: Option<usize>,
}

/// Builds variant bodies and measures them.
pub(super) struct Shaper {
    endpoint: Endpoint,
    body: Value,
    tokenizer: Option<Arc<Tokenizer>>,
    pub slots: Vec<Slot>,
    pub items: Option<Items>,
    /// What kinds of text the slots are (`messages`, `documents`, `tool_results`, …), in order of discovery.
    pub kinds: Vec<&'static str>,
    /// Units of the original's whole input.
    total: u64,
    /// Input tokens of the original.
    original: u64,
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn key(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// Collects the [`Slot`]s of a body.
struct Finder<'a> {
    units: &'a dyn Fn(&str) -> u64,
    slots: Vec<Slot>,
    kinds: Vec<&'static str>,
}

impl Finder<'_> {
    fn text(&mut self, pointer: String, v: &Value, kind: &'static str, item: Option<usize>) {
        let Some(s) = v.as_str() else { return };
        let own = (self.units)(s);
        if own == 0 {
            return;
        }
        self.slots.push(Slot {
            pointer,
            text: s.to_string(),
            own,
            item,
        });
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
    }

    /// Every string inside `v`, except under keys named `id`.
    fn all(&mut self, pointer: &str, v: &Value, kind: &'static str, item: Option<usize>) {
        match v {
            Value::String(_) => self.text(pointer.to_string(), v, kind, item),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.all(&format!("{pointer}/{i}"), x, kind, item);
                }
            }
            Value::Object(o) => {
                for (k, x) in o.iter().filter(|(k, _)| k.as_str() != "id") {
                    self.all(&format!("{pointer}/{}", key(k)), x, kind, item);
                }
            }
            _ => {}
        }
    }

    /// v2 content: a string, or parts of which text parts and (tool results) document parts are read.
    fn content(&mut self, pointer: &str, v: &Value, kind: &'static str, item: Option<usize>) {
        let parts = match v {
            Value::String(_) => return self.text(pointer.to_string(), v, kind, item),
            Value::Array(parts) => parts,
            _ => return,
        };
        for (j, p) in parts.iter().enumerate() {
            let at = format!("{pointer}/{j}");
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("text");
            match (p, ty) {
                (Value::String(_), _) => self.text(at, p, kind, item),
                (Value::Object(o), "text") => {
                    if let Some(t) = o.get("text") {
                        self.text(format!("{at}/text"), t, kind, item);
                    }
                }
                (Value::Object(o), "document") => {
                    if let Some(d) = o.get("document") {
                        self.all(&format!("{at}/document"), d, "tool_results", item);
                    }
                }
                _ => {}
            }
        }
    }

    /// The outputs of `tool_results` entries (the calls stay).
    fn tool_results(&mut self, pointer: &str, v: Option<&Value>) {
        for (k, r) in v
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(o) = r.get("outputs") {
                self.all(&format!("{pointer}/{k}/outputs"), o, "tool_results", None);
            }
        }
    }

    fn list<'v>(body: &'v Value, k: &str) -> impl Iterator<Item = (usize, &'v Value)> {
        body.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
    }

    fn chat_v2(&mut self, body: &Value) {
        for (i, m) in Self::list(body, "messages") {
            let kind = match m.get("role").and_then(Value::as_str) {
                Some("tool") => "tool_results",
                _ => "messages",
            };
            if let Some(c) = m.get("content") {
                self.content(&format!("/messages/{i}/content"), c, kind, None);
            }
            self.tool_results(
                &format!("/messages/{i}/tool_results"),
                m.get("tool_results"),
            );
        }
        for (d, doc) in Self::list(body, "documents") {
            self.all(&format!("/documents/{d}"), doc, "documents", None);
        }
    }

    fn chat_v1(&mut self, body: &Value) {
        if let Some(p) = body.get("preamble") {
            self.text("/preamble".into(), p, "preamble", None);
        }
        for (i, m) in Self::list(body, "chat_history") {
            if let Some(t) = m.get("message") {
                self.text(
                    format!("/chat_history/{i}/message"),
                    t,
                    "chat_history",
                    None,
                );
            }
            self.tool_results(
                &format!("/chat_history/{i}/tool_results"),
                m.get("tool_results"),
            );
        }
        if let Some(t) = body.get("message") {
            self.text("/message".into(), t, "message", None);
        }
        for (d, doc) in Self::list(body, "documents") {
            self.all(&format!("/documents/{d}"), doc, "documents", None);
        }
        self.tool_results("/tool_results", body.get("tool_results"));
    }

    /// Embed texts and inputs, rerank documents: one item each.
    fn items(&mut self, body: &Value, endpoint: Endpoint) {
        for (i, t) in Self::list(body, "texts") {
            self.text(format!("/texts/{i}"), t, "texts", Some(i));
        }
        for (i, x) in Self::list(body, "inputs") {
            match (endpoint, x.get("content")) {
                (Endpoint::Classify, _) => self.text(format!("/inputs/{i}"), x, "inputs", None),
                (_, Some(c)) => self.content(&format!("/inputs/{i}/content"), c, "inputs", Some(i)),
                (_, None) => {}
            }
        }
        // The compatibility API's embeddings: `input`, a string or a list of strings.
        match (endpoint, body.get("input")) {
            (Endpoint::CompatEmbeddings, Some(t @ Value::String(_))) => {
                self.text("/input".into(), t, "texts", None)
            }
            (Endpoint::CompatEmbeddings, Some(Value::Array(_))) => {
                for (i, t) in Self::list(body, "input") {
                    self.text(format!("/input/{i}"), t, "texts", Some(i));
                }
            }
            _ => {}
        }
        if matches!(endpoint, Endpoint::RerankV1 | Endpoint::RerankV2) {
            for (d, doc) in Self::list(body, "documents") {
                self.all(&format!("/documents/{d}"), doc, "documents", Some(d));
            }
        }
    }
}

/// Targets per slot for `budget` units over slots of sizes `own`: shrinking cuts the largest first to a common
/// cap (never below one unit a slot); growing scales every slot by the same factor.
pub(super) fn allocate(own: &[u64], budget: u64) -> Vec<u64> {
    let total: u64 = own.iter().sum();
    let mut order: Vec<usize> = (0..own.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(own[i]));
    if budget >= total {
        if total == 0 {
            return own.to_vec();
        }
        let f = budget as f64 / total as f64;
        let mut t: Vec<u64> = own.iter().map(|&o| (o as f64 * f).floor() as u64).collect();
        let mut rest = budget.saturating_sub(t.iter().sum());
        for &i in order.iter().cycle().take(own.len() * 2) {
            if rest == 0 {
                break;
            }
            t[i] += 1;
            rest -= 1;
        }
        return t;
    }
    let used = |cap: u64| -> u64 { own.iter().map(|&o| o.min(cap)).sum() };
    let (mut lo, mut hi) = (1u64, own.iter().copied().max().unwrap_or(1));
    if used(lo) > budget {
        return own.iter().map(|&o| o.min(1)).collect();
    }
    // The largest cap that fits.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if used(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut t: Vec<u64> = own.iter().map(|&o| o.min(lo)).collect();
    let mut rest = budget - used(lo);
    for &i in &order {
        if rest == 0 {
            break;
        }
        if own[i] > lo {
            t[i] += 1;
            rest -= 1;
        }
    }
    t
}

impl Shaper {
    pub(crate) fn new(
        endpoint: Endpoint,
        body: &Value,
        tokenizer: Option<Arc<Tokenizer>>,
    ) -> Shaper {
        let mut s = Shaper {
            endpoint,
            body: body.clone(),
            tokenizer,
            slots: Vec::new(),
            items: None,
            kinds: Vec::new(),
            total: 0,
            original: 0,
        };
        let units = |t: &str| s.units(t);
        let mut f = Finder {
            units: &units,
            slots: Vec::new(),
            kinds: Vec::new(),
        };
        match endpoint {
            // The compatibility API's messages are read as v2's: string content or text parts, tool messages.
            Endpoint::ChatV2 | Endpoint::CompatChatCompletions => f.chat_v2(body),
            Endpoint::ChatV1 => f.chat_v1(body),
            Endpoint::Generate => {
                if let Some(p) = body.get("prompt") {
                    f.text("/prompt".into(), p, "prompt", None);
                }
            }
            Endpoint::Tokenize => {
                if let Some(t) = body.get("text") {
                    f.text("/text".into(), t, "text", None);
                }
            }
            _ => f.items(body, endpoint),
        }
        let (slots, kinds) = (f.slots, f.kinds);
        let items = s.find_items(body);
        s.slots = slots;
        s.kinds = kinds;
        s.items = items;
        s.total = s.body_units(body);
        s.original = s.tokens_of(s.total);
        s
    }

    /// The list axis of embed and rerank, when the list has more than one item.
    fn find_items(&self, body: &Value) -> Option<Items> {
        let (k, name) = match self.endpoint {
            Endpoint::EmbedV1 | Endpoint::EmbedV2 => {
                let n = |k: &str| body.get(k).and_then(Value::as_array).map_or(0, Vec::len);
                if n("texts") > 1 {
                    ("texts", "texts")
                } else if n("inputs") > 1 {
                    ("inputs", "texts")
                } else {
                    return None;
                }
            }
            Endpoint::RerankV1 | Endpoint::RerankV2 => ("documents", "documents"),
            Endpoint::CompatEmbeddings => ("input", "texts"),
            _ => return None,
        };
        let list = body.get(k)?.as_array().filter(|a| a.len() > 1)?;
        let units = list
            .iter()
            .map(|item| {
                let mut one = serde_json::Map::new();
                one.insert(k.to_string(), Value::Array(vec![item.clone()]));
                self.body_units(&Value::Object(one))
            })
            .collect();
        Some(Items {
            pointer: format!("/{k}"),
            name,
            units,
        })
    }

    /// Tokens with the tokenizer, else characters.
    fn units(&self, text: &str) -> u64 {
        match &self.tokenizer {
            Some(t) => tokenizer::count_text(t, text),
            None => text.chars().count() as u64,
        }
    }

    fn body_units(&self, body: &Value) -> u64 {
        crate::tokens::input_texts(self.endpoint, body)
            .iter()
            .map(|t| self.units(t))
            .sum()
    }

    fn tokens_of(&self, units: u64) -> u64 {
        match self.tokenizer {
            Some(_) => units,
            None => crate::tokens::estimate_tokens(units),
        }
    }

    fn units_of_tokens(&self, tokens: u64) -> u64 {
        match self.tokenizer {
            Some(_) => tokens,
            None => tokens.saturating_mul(4),
        }
    }

    /// `tokenizer` (exact counts) or `chars` (characters / 4).
    pub(crate) fn measure(&self) -> &'static str {
        if self.tokenizer.is_some() {
            "tokenizer"
        } else {
            "chars"
        }
    }

    /// `text` (texts are cut), `texts` or `documents` (items are dropped, then texts cut) or `none`.
    pub(crate) fn axis_name(&self) -> &'static str {
        match (&self.items, self.slots.is_empty()) {
            (Some(it), _) => it.name,
            (None, false) => "text",
            (None, true) => "none",
        }
    }

    /// Whether there is anything to vary.
    pub(crate) fn has_axis(&self) -> bool {
        self.items.is_some() || !self.slots.is_empty()
    }

    /// `largest_first` (texts cut, largest first), `items_then_largest_first` (lists) or `none`.
    pub(crate) fn scaling(&self) -> &'static str {
        match (&self.items, self.slots.is_empty()) {
            (Some(_), _) => "items_then_largest_first",
            (None, false) => "largest_first",
            (None, true) => "none",
        }
    }

    /// Input tokens of the original request.
    pub(crate) fn original_tokens(&self) -> u64 {
        self.original
    }

    /// Input tokens of a body: exact with the tokenizer, else characters / 4.
    pub(crate) fn input_tokens(&self, body: &Value) -> u64 {
        self.tokens_of(self.body_units(body))
    }

    /// Input tokens outside the texts the sweep varies (and outside list items).
    pub(crate) fn fixed_tokens(&self) -> u64 {
        let items: u64 = self.items.as_ref().map_or(0, |it| it.units.iter().sum());
        let slots: u64 = self
            .slots
            .iter()
            .filter(|s| s.item.is_none())
            .map(|s| s.own)
            .sum();
        self.tokens_of(self.total.saturating_sub(items + slots))
    }

    /// The target for a fraction of the original's input tokens.
    pub(crate) fn target_at(&self, fraction: f64) -> u64 {
        (self.original as f64 * fraction).round() as u64
    }

    /// How many list items fit in `budget` units (at least one).
    fn items_within(&self, it: &Items, budget: u64) -> usize {
        let mut units = self.total;
        let mut k = it.units.len();
        while k > 1 && units > budget {
            k -= 1;
            units = units.saturating_sub(it.units[k]);
        }
        k
    }

    /// A text cut or grown to `want` units (never emptied).
    fn resize(&self, text: &str, own: u64, want: u64) -> String {
        let new = match &self.tokenizer {
            Some(t) if want < own => tokenizer::truncate_to_tokens(t, text, want),
            Some(t) => tokenizer::grow_to_tokens(t, text, want),
            None => {
                let n = usize::try_from(want).unwrap_or(usize::MAX);
                if want <= own {
                    text.chars().take(n).collect()
                } else {
                    text.chars().cycle().take(n).collect()
                }
            }
        };
        if new.is_empty() {
            text.chars().take(1).collect()
        } else {
            new
        }
    }

    /// Cuts or grows the slots of the first `k` items (and those outside items) so that an input of `kept`
    /// units becomes `budget` units.
    fn resize_slots(&self, body: &mut Value, k: usize, kept: u64, budget: u64) {
        let slots: Vec<&Slot> = self
            .slots
            .iter()
            .filter(|s| s.item.is_none_or(|i| i < k))
            .collect();
        let own: Vec<u64> = slots.iter().map(|s| s.own).collect();
        let other = kept.saturating_sub(own.iter().sum());
        let want = allocate(&own, budget.saturating_sub(other));
        for (s, w) in slots.iter().zip(want) {
            if w != s.own {
                if let Some(slot) = body.pointer_mut(&s.pointer) {
                    *slot = Value::String(self.resize(&s.text, s.own, w));
                }
            }
        }
    }

    /// The body for `target` input tokens and `max_tokens` (`None`: removed), measured. The original's size
    /// gives the original body.
    pub(crate) fn variant(&self, target: u64, max_tokens: Option<u64>) -> Variant {
        let mut body = self.body.clone();
        let mut items = self.items.as_ref().map(|it| it.units.len());
        if target != self.original && self.has_axis() {
            let budget = self.units_of_tokens(target);
            let mut kept = self.total;
            if let Some(it) = self.items.as_ref().filter(|_| budget < self.total) {
                let k = self.items_within(it, budget);
                if let Some(Value::Array(a)) = body.pointer_mut(&it.pointer) {
                    a.truncate(k);
                }
                kept -= it.units[k..].iter().sum::<u64>();
                items = Some(k);
            }
            // Texts are cut when dropping items was not enough (or there are none), grown above the original.
            if kept != budget && (kept > budget || self.items.is_none() || budget > self.total) {
                self.resize_slots(&mut body, items.unwrap_or(usize::MAX), kept, budget);
            }
        }
        if let Some(o) = body.as_object_mut() {
            // The field the original uses: `max_tokens`, or the compatibility API's `max_completion_tokens`.
            let field = if !o.contains_key("max_tokens") && o.contains_key("max_completion_tokens")
            {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            match max_tokens {
                Some(m) => {
                    o.insert(field.into(), Value::from(m));
                }
                None => {
                    o.remove(field);
                }
            }
        }
        let tokens = self.input_tokens(&body);
        Variant {
            body,
            tokens,
            target,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sim() -> Arc<Tokenizer> {
        Arc::new(
            cohere_bundle_simulator::TOKENIZER_JSON
                .parse()
                .expect("the asset is a tokenizer"),
        )
    }

    #[test]
    fn allocation_cuts_the_largest_first_and_grows_in_proportion() {
        assert_eq!(allocate(&[1000, 10, 3], 113), vec![100, 10, 3]);
        assert_eq!(allocate(&[1000, 600, 3], 403), vec![200, 200, 3]);
        assert_eq!(allocate(&[1000, 600, 3], 404), vec![201, 200, 3]);
        assert_eq!(allocate(&[50, 7], 2), vec![1, 1], "never below one unit");
        assert_eq!(allocate(&[50, 7], 0), vec![1, 1]);
        assert_eq!(allocate(&[100, 50], 300), vec![200, 100]);
        assert_eq!(allocate(&[100, 50], 151), vec![101, 50]);
        assert_eq!(allocate(&[], 10), Vec::<u64>::new());
        for budget in [0u64, 5, 77, 500, 1603, 5000] {
            let a = allocate(&[1000, 600, 3], budget);
            if budget >= 3 {
                assert_eq!(a.iter().sum::<u64>(), budget, "{budget}: {a:?}");
            }
        }
    }

    #[test]
    fn every_text_of_a_multi_turn_chat_is_a_slot() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "image_url", "image_url": {"url": "u"}}]},
            {"role": "assistant", "content": "answer", "tool_plan": "plan",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "document", "document": {"id": "x", "data": {"body": "result"}}}]},
            {"role": "user", "content": "last"}],
            "documents": ["plain doc", {"id": "d1", "data": {"title": "T", "a/b": "slash"}}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d"}}]});
        let s = Shaper::new(Endpoint::ChatV2, &body, Some(sim()));
        let ptrs: Vec<&str> = s.slots.iter().map(|s| s.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            vec![
                "/messages/0/content",
                "/messages/1/content/0/text",
                "/messages/2/content",
                "/messages/3/content/0/document/data/body",
                "/messages/4/content",
                "/documents/0",
                "/documents/1/data/title",
                "/documents/1/data/a~1b",
            ]
        );
        assert_eq!(s.kinds, vec!["messages", "tool_results", "documents"]);
        for p in ptrs {
            assert!(body.pointer(p).is_some_and(Value::is_string), "{p}");
        }
        let v1 = json!({"preamble": "p", "message": "m", "chat_history": [{"role": "USER", "message": "h"},
            {"role": "TOOL", "tool_results": [{"call": {"name": "f", "parameters": {}}, "outputs": [{"r": "out"}]}]}],
            "documents": [{"id": "1", "text": "doc"}],
            "tool_results": [{"call": {"name": "g", "parameters": {"q": "keep"}}, "outputs": [{"r": "new"}]}]});
        let s = Shaper::new(Endpoint::ChatV1, &v1, None);
        let ptrs: Vec<&str> = s.slots.iter().map(|s| s.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            vec![
                "/preamble",
                "/chat_history/0/message",
                "/chat_history/1/tool_results/0/outputs/0/r",
                "/message",
                "/documents/0/text",
                "/tool_results/0/outputs/0/r",
            ]
        );
    }

    #[test]
    fn a_big_first_message_is_cut_and_the_reached_size_measured() {
        let t = sim();
        let big = tokenizer::grow_to_tokens(&t, "Logs from the night shift, line by line. ", 3000);
        let body = json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": big}, {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Why did the job fail at 03:12?"}]});
        let s = Shaper::new(Endpoint::ChatV2, &body, Some(t.clone()));
        assert_eq!(
            s.original_tokens(),
            tokenizer::count(&t, Endpoint::ChatV2, &body)
        );
        for target in [2500, 750, 150, 40] {
            let v = s.variant(target, Some(1));
            assert_eq!(v.tokens, target, "reached {target}");
            assert_eq!(v.tokens, tokenizer::count(&t, Endpoint::ChatV2, &v.body));
            if target >= 150 {
                assert_eq!(
                    v.body["messages"][2], body["messages"][2],
                    "the short turn stays"
                );
            }
        }
        let v = s.variant(0, None);
        assert_eq!(v.tokens, 3, "one token a text at the least");
        let grown = s.variant(6000, None);
        assert!(
            grown.tokens >= 5990 && grown.tokens <= 6000,
            "{}",
            grown.tokens
        );
        let same = s.variant(s.original_tokens(), Some(100));
        assert_eq!(same.body, body);
    }

    #[test]
    fn lists_lose_items_then_the_last_item_is_cut() {
        let t = sim();
        let doc = "A long report on freight rates in the Baltic. ".repeat(20);
        let per = tokenizer::count_text(&t, &doc);
        let body = json!({"model": "rerank-v3.5", "query": "rates", "documents": [doc, doc, {"id": "z", "text": doc}]});
        let s = Shaper::new(Endpoint::RerankV2, &body, Some(t.clone()));
        assert_eq!(s.axis_name(), "documents");
        let q = tokenizer::count_text(&t, "rates");
        let v = s.variant(q + 2 * per + 5, None);
        assert_eq!((v.items, v.tokens), (Some(2), q + 2 * per));
        let v = s.variant(q + per / 2, None);
        assert_eq!(v.items, Some(1));
        assert_eq!(v.tokens, q + per / 2, "the one document left is cut");
        assert_eq!(v.body["query"], json!("rates"));
        let e = json!({"model": "embed-v4.0", "input_type": "search_document", "inputs": [
            {"content": [{"type": "text", "text": doc}]}, {"content": [{"type": "image_url", "image_url": {"url": "data:x"}}]}]});
        let s = Shaper::new(Endpoint::EmbedV2, &e, Some(t));
        assert_eq!(s.axis_name(), "texts");
        assert_eq!(s.slots[0].pointer, "/inputs/0/content/0/text");
    }

    #[test]
    fn compat_bodies_vary_messages_input_and_max_completion_tokens() {
        let t = sim();
        let big = tokenizer::grow_to_tokens(&t, "Night shift logs, line by line. ", 800);
        let chat = json!({"model": "command-a-03-2025", "max_completion_tokens": 100, "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": big}]}]});
        let e = Endpoint::CompatChatCompletions;
        let s = Shaper::new(e, &chat, Some(t.clone()));
        let pointers: Vec<&str> = s.slots.iter().map(|x| x.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/messages/0/content", "/messages/1/content/0/text"]
        );
        assert_eq!(s.original_tokens(), tokenizer::count(&t, e, &chat));
        let v = s.variant(200, Some(1));
        assert_eq!(v.tokens, 200);
        assert_eq!(v.tokens, tokenizer::count(&t, e, &v.body));
        // The original's field keeps the value; no `max_tokens` is added beside it.
        assert_eq!(v.body["max_completion_tokens"], 1);
        assert!(v.body.get("max_tokens").is_none());
        assert!(s
            .variant(200, None)
            .body
            .get("max_completion_tokens")
            .is_none());

        let doc = "A long report on freight rates in the Baltic. ".repeat(20);
        let per = tokenizer::count_text(&t, &doc);
        let emb = json!({"model": "embed-v4.0", "input": [doc, doc, doc]});
        let s = Shaper::new(Endpoint::CompatEmbeddings, &emb, Some(t.clone()));
        assert_eq!(s.axis_name(), "texts");
        let v = s.variant(2 * per, None);
        assert_eq!((v.items, v.tokens), (Some(2), 2 * per));
        let v = s.variant(per / 2, None);
        assert_eq!((v.items, v.tokens), (Some(1), per / 2));
        let one = json!({"model": "embed-v4.0", "input": doc});
        let s = Shaper::new(Endpoint::CompatEmbeddings, &one, Some(t));
        assert_eq!(
            (s.axis_name(), s.slots[0].pointer.as_str()),
            ("text", "/input")
        );
        assert_eq!(s.variant(10, None).tokens, 10);
    }

    #[test]
    fn nothing_to_vary_without_text() {
        let e = json!({"model": "embed-v4.0", "input_type": "image", "images": ["data:image/png;base64,AAAA"]});
        let s = Shaper::new(Endpoint::EmbedV2, &e, None);
        assert!(!s.has_axis());
        assert_eq!((s.axis_name(), s.scaling()), ("none", "none"));
        assert_eq!(s.variant(0, None).body, e);
    }
}
