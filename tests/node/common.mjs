// Shared by the Node client scripts in this folder (driven by tests/node_clients.rs through
// `cohere-bundle observe`): the run order from argv, the proxy URL and key from the environment, and a
// report on stderr (stdout belongs to cohere-bundle, whose --json line must stay alone there).

/** The two calls in the order named by argv[2]: `fail-first` or `stream-first`. */
export function order() {
  const o = process.argv[2];
  if (o !== 'fail-first' && o !== 'stream-first') {
    die(`usage: node ${process.argv[1]} fail-first|stream-first (got ${JSON.stringify(o)})`);
  }
  return o === 'fail-first' ? ['fail', 'stream'] : ['stream', 'fail'];
}

/** CO_API_URL, set by `cohere-bundle observe` to its proxy. Required: without it the SDKs would call the real API. */
export function apiUrl() {
  const url = process.env.CO_API_URL;
  if (!url) die('CO_API_URL is not set: run this script through `cohere-bundle observe -- node ...`');
  return url.replace(/\/+$/, '');
}

/**
 * With NODE_TEST_DEFAULT_HOST=1 the SDKs are given no base URL (they use api.cohere.com), as in an unchanged
 * program: observe's preload must then send their requests to the proxy. Refuses to run without the preload,
 * so that a test can never reach the real API.
 */
export function defaultHost() {
  if (process.env.NODE_TEST_DEFAULT_HOST !== '1') return false;
  if (!globalThis.__cohereBundleObserve) die('NODE_TEST_DEFAULT_HOST=1 but the observe preload is not loaded');
  return true;
}

/** CO_API_KEY (the simulator's demo key in the tests). */
export function apiKey() {
  const key = process.env.CO_API_KEY;
  if (!key) die('CO_API_KEY is not set');
  return key;
}

/** The model that exists (the stream) and the one that does not (the 404). */
export const MODEL = process.env.NODE_TEST_MODEL || 'command-a-03-2025';
export const MISSING_MODEL = 'command-r-nonexistent';

export function die(msg) {
  console.error(`node-client: ${msg}`);
  process.exit(2);
}

/**
 * Runs `calls[name]` for each name in order; each returns a list of problems (empty when it behaved).
 * Prints one JSON report line on stderr and exits 0 only when every call behaved as expected.
 */
export async function run(sdk, calls) {
  const report = { sdk, order: order(), calls: {}, problems: [] };
  for (const name of report.order) {
    try {
      const { problems, ...seen } = await calls[name]();
      report.calls[name] = seen;
      report.problems.push(...problems.map((p) => `${name}: ${p}`));
    } catch (e) {
      report.problems.push(`${name}: unexpected ${e?.name ?? typeof e}: ${e?.message ?? e}`);
    }
  }
  console.error(`node-client report: ${JSON.stringify(report)}`);
  process.exit(report.problems.length === 0 ? 0 : 1);
}
