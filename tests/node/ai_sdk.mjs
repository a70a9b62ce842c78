// The Vercel AI SDK (`ai` 6.x with the `@ai-sdk/cohere` 3.x provider) making a failing generateText and a
// completed streamText through `cohere-bundle observe`; see tests/node_clients.rs for what it sends and how.
//
// Usage: CO_API_URL=... CO_API_KEY=... node ai_sdk.mjs fail-first|stream-first
// @ai-sdk/cohere reads neither CO_API_URL nor CO_API_KEY (its defaults are https://api.cohere.com/v2 and
// COHERE_API_KEY): its baseURL already contains the version, and it POSTs `${baseURL}/chat`.
import { readFileSync } from 'node:fs';
import { createCohere } from '@ai-sdk/cohere';
import { APICallError, generateText, streamText } from 'ai';
import { MISSING_MODEL, MODEL, apiKey, apiUrl, defaultHost, run } from './common.mjs';

const version = (pkg) => {
  // Neither package exports ./package.json: read it from the package folder above the resolved entry point.
  const entry = new URL(import.meta.resolve(pkg));
  const root = new URL(entry.href.slice(0, entry.href.indexOf(`/node_modules/${pkg}/`) + `/node_modules/${pkg}/`.length));
  return JSON.parse(readFileSync(new URL('package.json', root))).version;
};

const cohere = defaultHost()
  ? createCohere({ apiKey: apiKey() })
  : createCohere({ baseURL: `${apiUrl()}/v2`, apiKey: apiKey() });

await run(`@ai-sdk/cohere ${version('@ai-sdk/cohere')} (ai ${version('ai')})`, {
  // generateText with a model that does not exist: 404 is not retryable, so `ai` rethrows the provider's
  // APICallError as it is (a retryable one would come back wrapped in a RetryError after the retries).
  async fail() {
    try {
      await generateText({ model: cohere(MISSING_MODEL), prompt: 'hello' });
      return { problems: ['generateText with an unknown model did not throw'] };
    } catch (e) {
      const problems = [];
      if (!APICallError.isInstance(e)) problems.push(`threw ${e?.name}, not APICallError: ${e}`);
      if (e?.statusCode !== 404) problems.push(`statusCode ${e?.statusCode}`);
      if (e?.isRetryable !== false) problems.push(`isRetryable ${e?.isRetryable}`);
      if (typeof e?.message !== 'string' || !e.message.includes(MISSING_MODEL)) {
        problems.push(`the message does not name the model: ${e?.message}`);
      }
      return { status: e?.statusCode, message: e?.message, problems };
    }
  },
  // streamText to the end: every part, then the finish reason and the text.
  async stream() {
    const errors = [];
    const result = streamText({
      model: cohere(MODEL),
      prompt: 'stream please',
      onError: ({ error }) => errors.push(String(error?.message ?? error)),
    });
    const parts = [];
    for await (const part of result.fullStream) {
      if (parts.at(-1) !== part.type) parts.push(part.type);
    }
    const text = await result.text;
    const finish = await result.finishReason;
    const usage = await result.usage;
    const problems = errors.map((e) => `stream error: ${e}`);
    if (!parts.includes('text-delta')) problems.push(`no text-delta part: ${parts}`);
    if (parts.at(-1) !== 'finish') problems.push(`last part ${parts.at(-1)}`);
    if (!text) problems.push('no text streamed');
    if (finish !== 'stop') problems.push(`finish reason ${finish}`);
    if (!(usage?.outputTokens > 0)) problems.push(`usage ${JSON.stringify(usage)}`);
    return { parts, text, finish, usage, problems };
  },
});
