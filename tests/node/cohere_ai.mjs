// The Cohere TypeScript SDK (npm `cohere-ai` 8.x, CohereClientV2) making a failing chat and a completed
// streaming chat through `cohere-bundle observe`; see tests/node_clients.rs for what the SDK sends and how.
//
// Usage: CO_API_URL=... CO_API_KEY=... node cohere_ai.mjs fail-first|stream-first
// `cohere-ai` ignores CO_API_URL (only CO_API_KEY is read from the environment), so the proxy is passed as
// `baseUrl`. Retries are left at the SDK's defaults (404 is not retried).
import { readFileSync } from 'node:fs';
import { CohereClientV2, CohereError, Cohere } from 'cohere-ai';
import { MISSING_MODEL, MODEL, apiKey, apiUrl, defaultHost, run } from './common.mjs';

// The package has no ./package.json export: read it beside the resolved entry point.
const SDK_VERSION = JSON.parse(readFileSync(new URL('package.json', import.meta.resolve('cohere-ai')))).version;
const co = defaultHost()
  ? new CohereClientV2({ token: apiKey() })
  : new CohereClientV2({ token: apiKey(), baseUrl: apiUrl() });
const messages = (content) => [{ role: 'user', content }];

await run(`cohere-ai ${SDK_VERSION}`, {
  // chat with a model that does not exist: the API answers 404 and the SDK throws NotFoundError.
  async fail() {
    try {
      await co.chat({ model: MISSING_MODEL, messages: messages('hello') });
      return { problems: ['the chat with an unknown model did not throw'] };
    } catch (e) {
      const problems = [];
      if (!(e instanceof Cohere.NotFoundError)) problems.push(`threw ${e?.constructor?.name}, not NotFoundError: ${e}`);
      if (!(e instanceof CohereError)) problems.push('the error is not a CohereError');
      if (e?.statusCode !== 404) problems.push(`statusCode ${e?.statusCode}`);
      const message = e?.body?.message;
      if (typeof message !== 'string' || !message.includes(MISSING_MODEL)) {
        problems.push(`the error body has no message naming the model: ${JSON.stringify(e?.body)}`);
      }
      return { status: e?.statusCode, message, problems };
    }
  },
  // chatStream to the end: the SDK yields the parsed events and stops at `data: [DONE]`.
  async stream() {
    const stream = await co.chatStream({ model: MODEL, messages: messages('stream please') });
    const events = [];
    let text = '';
    let finish;
    for await (const ev of stream) {
      events.push(ev.type);
      if (ev.type === 'content-delta') text += ev.delta?.message?.content?.text ?? '';
      if (ev.type === 'message-end') finish = ev.delta?.finishReason;
    }
    const problems = [];
    if (events[0] !== 'message-start') problems.push(`first event ${events[0]}`);
    if (events.at(-1) !== 'message-end') problems.push(`last event ${events.at(-1)}`);
    if (!text) problems.push('no text streamed');
    if (finish !== 'COMPLETE') problems.push(`finish reason ${finish}`);
    return { events, text, finish, problems };
  },
});
