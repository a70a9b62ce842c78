// The `openai` npm package calling Cohere's compatibility API through `cohere-bundle observe`
// (tests/compat.rs): a chat completion with an unknown model (404), one with `n: 2`, which the compatibility
// API does not support (400), and a streaming chat completion read to its end.
//
// Usage: CO_API_URL=... CO_API_KEY=... [NODE_TEST_DEFAULT_HOST=1] node openai.mjs
// The base URL is the proxy plus `/compatibility/v1`, as Cohere's docs write
// `baseURL: "https://api.cohere.ai/compatibility/v1"`. Retries are left at the SDK's defaults (404 and 400 are
// not retried).
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { MISSING_MODEL, MODEL, apiKey, apiUrl, defaultHost } from './common.mjs';

const SDK_VERSION = JSON.parse(readFileSync(new URL('package.json', import.meta.resolve('openai')))).version;
// With NODE_TEST_DEFAULT_HOST=1 the base URL is the docs' own, as in an unchanged program: observe's preload
// must send the requests to the proxy, path kept.
const baseURL = defaultHost() ? 'https://api.cohere.ai/compatibility/v1' : `${apiUrl()}/compatibility/v1`;
const client = new OpenAI({ baseURL, apiKey: apiKey() });
const messages = [
  { role: 'developer', content: 'Be brief.' },
  { role: 'user', content: 'hello there' },
];

/** Runs `call`, which must throw an APIError of `status`; returns what it saw and its problems. */
async function expectError(status, call) {
  try {
    await call();
    return { problems: [`no error (expected ${status})`] };
  } catch (e) {
    const problems = [];
    if (!(e instanceof OpenAI.APIError)) problems.push(`threw ${e?.constructor?.name}: ${e}`);
    if (e?.status !== status) problems.push(`status ${e?.status}, expected ${status}`);
    if (typeof e?.error?.message !== 'string') problems.push(`no error.message: ${JSON.stringify(e?.error)}`);
    return { status: e?.status, message: e?.error?.message, type: e?.error?.type, problems };
  }
}

const report = { sdk: `openai ${SDK_VERSION}`, calls: {}, problems: [] };
const calls = {
  not_found: () => expectError(404, () => client.chat.completions.create({ model: MISSING_MODEL, messages })),
  bad_request: () => expectError(400, () => client.chat.completions.create({ model: MODEL, messages, n: 2 })),
  async stream() {
    const stream = await client.chat.completions.create({ model: MODEL, messages, stream: true, max_tokens: 200 });
    let text = '';
    let finish;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const problems = [];
    if (!text) problems.push('no text streamed');
    if (finish !== 'stop') problems.push(`finish reason ${finish}`);
    return { chunks, text, finish, problems };
  },
};
for (const [name, call] of Object.entries(calls)) {
  try {
    const { problems, ...seen } = await call();
    report.calls[name] = seen;
    report.problems.push(...problems.map((p) => `${name}: ${p}`));
  } catch (e) {
    report.problems.push(`${name}: unexpected ${e?.name ?? typeof e}: ${e?.message ?? e}`);
  }
}
console.error(`node-client report: ${JSON.stringify(report)}`);
process.exit(report.problems.length === 0 ? 0 : 1);
