//! The text after each command's options in `--help`: examples, then the environment variables the command
//! reads. Every line under "Examples:" that is not a `#` comment is a command line that must parse (the
//! binary's unit tests check each one against the real parser).

/// One environment line per variable group, shared by the commands below.
macro_rules! env_line {
    (key_replay) => {
        "  CO_API_KEY, COHERE_API_KEY   the key the replay sends (CO_API_KEY first); scrubbed everywhere\n"
    };
    (key_scrub) => {
        "  CO_API_KEY, COHERE_API_KEY   a key in either is scrubbed everywhere\n"
    };
    (api_url) => {
        "  CO_API_URL                   the base URL when --base-url is not given\n"
    };
    (cache) => {
        "  COHERE_BUNDLE_CACHE_DIR      where tokenizers are cached [default: the user's cache dir]\n"
    };
    (from) => {
        "  COHERE_BUNDLE_FROM, EMAIL    the From address of the --eml draft\n"
    };
    (secret_names) => {
        "  *KEY*, *TOKEN*, *SECRET*, *PASSWORD*, *AUTH*, ...\n                               values of secret-looking variables are scrubbed (not with\n                               --no-env-scan)\n"
    };
    (secret_names_always) => {
        "  *KEY*, *TOKEN*, *SECRET*, *PASSWORD*, *AUTH*, ...\n                               values of secret-looking variables are scrubbed\n"
    };
    (tls) => {
        "  SSL_CERT_FILE, SSL_CERT_DIR  extra CA certificates (PEM) trusted beside the system's\n  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY\n                               proxies, read as curl reads them (lower-case names too)\n"
    };
    (no_color) => {
        "  NO_COLOR                     no colour in help and progress output\n"
    };
}

/// `cohere-bundle --help`.
pub const TOP: &str = concat!(
    "Examples:\n",
    "  cohere-bundle demo\n",
    "  cohere-bundle replay request.json --log app.log\n",
    "  cohere-bundle observe -- python3 app.py\n",
    "  cohere-bundle bundle --request req.json --response resp.json --status 400\n",
    "\n",
    "Each command's --help lists its own examples and the environment variables it reads.\n",
    "\n",
    "Environment:\n",
    env_line!(key_replay),
    env_line!(api_url),
    env_line!(cache),
    env_line!(from),
    env_line!(secret_names),
    env_line!(tls),
    env_line!(no_color),
    "\n",
    "Exit codes:\n",
    "  0         bundle written (also when the replayed request failed); verify passed\n",
    "  1         the API could not be reached, an I/O failure, a bundle that fails verify\n",
    "  2         usage: a bad flag or value, a missing, empty, binary or malformed input, an output that\n",
    "            exists without --force, a response file given as the request, a host not allowed the key\n",
    "  3         the final leak check found a known secret: no zip was kept\n",
    "  130, 143  interrupted by SIGINT (Ctrl-C) or SIGTERM (observe writes what it recorded first)\n",
    "  observe -- COMMAND exits with the command's own code\n",
);

/// `demo --help`.
pub const DEMO: &str = concat!(
    "Examples:\n",
    "  cohere-bundle demo\n",
    "  cohere-bundle demo --out demo.zip --force --eml\n",
    "  cohere-bundle demo --json\n",
    "\n",
    "Environment:\n",
    env_line!(key_scrub),
    env_line!(cache),
    env_line!(from),
    env_line!(secret_names),
    env_line!(no_color),
);

/// `replay --help`.
pub const REPLAY: &str = concat!(
    "Examples:\n",
    "  cohere-bundle replay request.json\n",
    "  cohere-bundle replay body.json --endpoint v2/chat --log app.log --secret-env DB_PASSWORD\n",
    "  cohere-bundle replay failing.har --har-entry 1\n",
    "  cohere-bundle replay curl.txt --base-url https://api.cohere.com\n",
    "  cohere-bundle replay request.json --matrix --yes --max-calls 12\n",
    "  cohere-bundle replay request.json --eml --out ticket.zip\n",
    "  cohere-bundle replay -\n",
    "\n",
    "Environment:\n",
    env_line!(key_replay),
    env_line!(api_url),
    env_line!(cache),
    env_line!(from),
    env_line!(secret_names),
    env_line!(tls),
    env_line!(no_color),
);

/// `bundle --help`.
pub const BUNDLE: &str = concat!(
    "Examples:\n",
    "  cohere-bundle bundle --request req.json --response resp.json --status 404\n",
    "  cohere-bundle bundle --request req.json --status 424 --platform bedrock --response err.json\n",
    "  cohere-bundle bundle --request req.json --log traceback.log --secrets-file secrets.txt\n",
    "  cohere-bundle bundle --request req.json --headers headers.txt --status 429 --eml\n",
    "\n",
    "Environment:\n",
    env_line!(key_scrub),
    env_line!(cache),
    env_line!(from),
    env_line!(secret_names),
    env_line!(no_color),
);

/// `observe --help`.
pub const OBSERVE: &str = concat!(
    "Examples:\n",
    "  cohere-bundle observe -- python3 my_service.py\n",
    "  cohere-bundle observe --listen 127.0.0.1:8089\n",
    "  cohere-bundle observe --all --out everything.zip -- node app.mjs\n",
    "  cohere-bundle observe --upstream https://api.cohere.com -- python3 app.py\n",
    "\n",
    "Environment:\n",
    env_line!(key_scrub),
    "  CO_API_URL                   the upstream when --upstream is not given; the command gets the\n",
    "                               proxy's URL in it instead\n",
    "  NODE_OPTIONS                 kept, with the preload added, for a Node command\n",
    env_line!(cache),
    env_line!(from),
    env_line!(secret_names),
    env_line!(tls),
    env_line!(no_color),
);

/// `scrub --help`.
pub const SCRUB: &str = concat!(
    "Examples:\n",
    "  cohere-bundle scrub app.log --report\n",
    "  cohere-bundle scrub app.log --secret-env DB_PASSWORD --json\n",
    "  cohere-bundle scrub --secrets-file secrets.txt --redact-content request.json\n",
    "  cohere-bundle scrub -\n",
    "\n",
    "Environment:\n",
    env_line!(key_scrub),
    env_line!(secret_names_always),
    env_line!(no_color),
);

/// `verify --help`.
pub const VERIFY: &str = concat!(
    "Examples:\n",
    "  cohere-bundle verify cohere-support-20261124T183455Z-400.zip\n",
    "  cohere-bundle verify bundle.zip --secret-env DB_PASSWORD\n",
    "  cohere-bundle verify bundle.zip --secrets-file secrets.txt --json\n",
    "\n",
    "Environment:\n",
    env_line!(key_scrub),
    env_line!(secret_names_always),
    env_line!(no_color),
);

/// `completions --help`.
pub const COMPLETIONS: &str = concat!(
    "Examples:\n",
    "  cohere-bundle completions bash\n",
    "  cohere-bundle completions zsh\n",
    "  cohere-bundle completions fish\n",
    "  cohere-bundle completions powershell\n",
    "  cohere-bundle completions elvish\n",
    "\n",
    "Install:\n",
    "  bash  cohere-bundle completions bash > ~/.local/share/bash-completion/completions/cohere-bundle\n",
    "  zsh   cohere-bundle completions zsh > ~/.zfunc/_cohere-bundle  (with fpath+=~/.zfunc)\n",
    "  fish  cohere-bundle completions fish > ~/.config/fish/completions/cohere-bundle.fish\n",
    "\n",
    "Environment:\n",
    env_line!(no_color),
);

/// `man --help`.
pub const MAN: &str = concat!(
    "Examples:\n",
    "  cohere-bundle man\n",
    "  cohere-bundle man replay\n",
    "\n",
    "Install:\n",
    "  cohere-bundle man > ~/.local/share/man/man1/cohere-bundle.1\n",
    "  man -l <(cohere-bundle man replay)\n",
    "\n",
    "Environment:\n",
    env_line!(no_color),
);

/// `simulator --help` (a hidden command).
pub const SIMULATOR: &str = concat!(
    "Examples:\n",
    "  cohere-bundle simulator --port 8080\n",
    "\n",
    "Environment:\n",
    env_line!(no_color),
);

/// The command lines under "Examples:" in `text` (comments and other sections left out).
#[cfg(test)]
pub fn examples(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| l.trim_end() != "Examples:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
