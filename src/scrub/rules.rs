//! Layer 3: fixed-shape tokens found by pattern.
//!
//! Every rule names the literals its matches must contain (checked case-insensitively by one Aho-Corasick
//! automaton over all rules), so a rule's regex runs only in a window around a literal hit. Rules marked
//! high-confidence are also used by the fail-closed final check.

use regex::bytes::Regex;

/// One pattern rule.
#[derive(Debug, Clone, Copy)]
pub struct RuleSpec {
    /// Rule id, used in `redactions.json` as `pattern:<id>`.
    pub id: &'static str,
    /// The placeholder label.
    pub label: &'static str,
    /// Literals (ASCII, matched case-insensitively) of which every match contains at least one.
    pub literals: &'static [&'static str],
    /// The regex (bytes, no Unicode classes). Capture group 1, when present, is the part redacted.
    pub regex: &'static str,
    /// How far before a literal hit a match may start.
    pub back: usize,
    /// How far after a literal hit a match may end.
    pub fwd: usize,
    /// A match is a secret with near certainty (used by the final check).
    pub high_confidence: bool,
}

const fn r(
    id: &'static str,
    label: &'static str,
    literals: &'static [&'static str],
    regex: &'static str,
    back: usize,
    fwd: usize,
    high_confidence: bool,
) -> RuleSpec {
    RuleSpec {
        id,
        label,
        literals,
        regex,
        back,
        fwd,
        high_confidence,
    }
}

/// The rule table.
pub const RULES: &[RuleSpec] = &[
    // Cloud providers.
    r(
        "aws-access-key-id",
        "aws-key",
        &["akia", "asia", "abia", "acca", "a3t"],
        r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        1,
        24,
        true,
    ),
    r(
        "aws-bedrock-key",
        "aws-key",
        &["absk"],
        r"\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})",
        1,
        290,
        true,
    ),
    r(
        "aws-bedrock-short",
        "aws-key",
        &["bedrock-api-key-"],
        r"(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%_-]{20,})",
        0,
        4096,
        true,
    ),
    r(
        "aws-secret-context",
        "aws-secret",
        &["aws"],
        r#"(?i)aws.{0,30}?(?:secret|private)?.{0,20}?['"\s:=>]{1,6}([A-Za-z0-9/+]{40})\b"#,
        60,
        120,
        false,
    ),
    r(
        "google-api-key",
        "google-key",
        &["aiza"],
        r"\b(AIza[0-9A-Za-z_-]{35})",
        1,
        40,
        true,
    ),
    r(
        "google-oauth-secret",
        "google-secret",
        &["gocspx-"],
        r"(GOCSPX-[A-Za-z0-9_-]{28})",
        0,
        40,
        true,
    ),
    r(
        "google-oauth-token",
        "google-token",
        &["ya29."],
        r"\b(ya29\.[0-9A-Za-z_-]{20,})",
        1,
        4096,
        true,
    ),
    r(
        "google-refresh-token",
        "google-token",
        &["1//0"],
        r"\b(1//0[0-9A-Za-z_-]{30,})",
        1,
        1024,
        false,
    ),
    r(
        "azure-storage-key",
        "azure-key",
        &["accountkey=", "sharedaccesskey="],
        r"(?i)(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})",
        17,
        140,
        true,
    ),
    r(
        "azure-connection-string",
        "azure-credentials",
        &["accountname=", "sharedaccesskeyname=", ";id="],
        r#"(?i)((?:AccountName=[^;\s"']+;\s*AccountKey=[A-Za-z0-9+/]{20,}={0,2}|SharedAccessKeyName=[^;\s"']+;\s*SharedAccessKey=[A-Za-z0-9+/]{20,}={0,2}|Endpoint=https://[^;\s"']+;\s*Id=[^;\s"']+;\s*Secret=[A-Za-z0-9+/]{20,}={0,2}))"#,
        120,
        300,
        true,
    ),
    r(
        "azure-ad-client-secret",
        "azure-secret",
        &["q~"],
        r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        6,
        40,
        true,
    ),
    r(
        "azure-sas-signature",
        "azure-sas",
        &["sig="],
        r"[?&;]sig=([A-Za-z0-9%+/=]{20,})",
        1,
        200,
        true,
    ),
    r(
        "digitalocean-token",
        "do-token",
        &["dop_v1_", "doo_v1_", "dor_v1_"],
        r"\b(do[opr]_v1_[a-f0-9]{64})\b",
        1,
        72,
        true,
    ),
    // Source forges and CI.
    r(
        "github-token",
        "github-token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b",
        1,
        260,
        true,
    ),
    r(
        "github-pat",
        "github-token",
        &["github_pat_"],
        r"\b(github_pat_[A-Za-z0-9_]{22,255})\b",
        1,
        270,
        true,
    ),
    r(
        "gitlab-token",
        "gitlab-token",
        &[
            "glpat-",
            "glptt-",
            "gldt-",
            "glrt-",
            "glcbt-",
            "glft-",
            "glimt-",
            "glagent-",
            "glsoat-",
            "gloas-",
            "glffct-",
            "glwt-",
            "gr1348941",
        ],
        r"\b((?:gl(?:pat|ptt|dt|rt|cbt|ft|imt|agent|soat|oas|ffct|wt)-|GR1348941)[A-Za-z0-9_.-]{20,})",
        1,
        300,
        true,
    ),
    r(
        "bitbucket-app-password",
        "bitbucket-token",
        &["atbb"],
        r"\b(ATBB[A-Za-z0-9_=.-]{28,})",
        1,
        120,
        true,
    ),
    r(
        "atlassian-token",
        "atlassian-token",
        &["atatt3", "atctt3"],
        r"\b(AT[AC]TT3[A-Za-z0-9_=\-]{20,400})",
        1,
        420,
        true,
    ),
    r(
        "npm-token",
        "npm-token",
        &["npm_"],
        r"\b(npm_[A-Za-z0-9]{36})\b",
        1,
        44,
        true,
    ),
    r(
        "pypi-token",
        "pypi-token",
        &["pypi-ageichlwas5vcmc"],
        r"(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        0,
        400,
        true,
    ),
    // Chat and payments.
    r(
        "slack-token",
        "slack-token",
        &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxo-", "xoxc-", "xoxd-",
            "xoxe.",
        ],
        r"\b(xox[baprsocde]-\d[A-Za-z0-9-]{9,250}|xox[ar]-[A-Za-z0-9]{8,48}\b|xoxe\.xox[bp]-\d-[A-Za-z0-9]{60,250}|xoxe-\d-[A-Za-z0-9-]{60,250})",
        1,
        260,
        true,
    ),
    r(
        "slack-app-token",
        "slack-token",
        &["xapp-"],
        r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)",
        1,
        200,
        true,
    ),
    r(
        "slack-webhook",
        "slack-webhook",
        &["hooks.slack.com/"],
        r"((?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})",
        8,
        200,
        true,
    ),
    r(
        "discord-webhook",
        "discord-webhook",
        &["/api/webhooks/"],
        r"(?i)discord(?:app)?\.com/api/webhooks/(\d+/[A-Za-z0-9_-]{30,})",
        30,
        140,
        true,
    ),
    r(
        "telegram-bot-token",
        "telegram-token",
        &[":aa"],
        r"\b(\d{8,10}:AA[0-9A-Za-z_-]{32,33})\b",
        11,
        40,
        true,
    ),
    r(
        "stripe-key",
        "stripe-key",
        &[
            "sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_",
        ],
        r"\b((?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99})\b",
        1,
        110,
        true,
    ),
    r(
        "stripe-webhook-secret",
        "stripe-key",
        &["whsec_"],
        r"\b(whsec_[A-Za-z0-9+/]{24,})",
        1,
        80,
        true,
    ),
    r(
        "sendgrid-key",
        "sendgrid-key",
        &["sg."],
        r"\b(SG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{39,50})\b",
        1,
        80,
        true,
    ),
    r(
        "mailgun-key",
        "mailgun-key",
        &["key-"],
        r"\b(key-[0-9a-f]{32})\b",
        1,
        38,
        false,
    ),
    r(
        "mailchimp-key",
        "mailchimp-key",
        &["-us"],
        r"\b([0-9a-f]{32}-us[0-9]{1,2})\b",
        33,
        6,
        true,
    ),
    r(
        "shopify-token",
        "shopify-token",
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        1,
        40,
        true,
    ),
    // AI providers.
    r(
        "anthropic-key",
        "anthropic-key",
        &["sk-ant-"],
        r"\b(sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{32,})",
        1,
        200,
        true,
    ),
    r(
        "openai-key",
        "openai-key",
        &["t3blbkfj"],
        r"\b(sk-[A-Za-z0-9_-]{0,80}T3BlbkFJ[A-Za-z0-9_-]{16,100})",
        100,
        120,
        true,
    ),
    r(
        "openai-project-key",
        "openai-key",
        &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"],
        r"\b(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250})",
        1,
        260,
        true,
    ),
    r(
        "sk-generic-key",
        "api-key",
        &["sk-"],
        r"\b(sk-[A-Za-z0-9_-]{32,200})",
        1,
        210,
        false,
    ),
    r(
        "huggingface-token",
        "huggingface-token",
        &["hf_"],
        r"\b(hf_[A-Za-z0-9]{30,40})\b",
        1,
        44,
        true,
    ),
    r(
        "huggingface-org-token",
        "huggingface-token",
        &["api_org_"],
        r"\b(api_org_[A-Za-z0-9]{30,40})\b",
        1,
        50,
        true,
    ),
    r(
        "groq-key",
        "groq-key",
        &["gsk_"],
        r"\b(gsk_[A-Za-z0-9]{48,56})\b",
        1,
        60,
        true,
    ),
    r(
        "perplexity-key",
        "perplexity-key",
        &["pplx-"],
        r"\b(pplx-[A-Za-z0-9]{40,56})\b",
        1,
        60,
        true,
    ),
    r(
        "xai-key",
        "xai-key",
        &["xai-"],
        r"\b(xai-[A-Za-z0-9]{60,100})\b",
        1,
        104,
        true,
    ),
    r(
        "replicate-token",
        "replicate-token",
        &["r8_"],
        r"\b(r8_[A-Za-z0-9]{37})\b",
        1,
        42,
        true,
    ),
    r(
        "cohere-context",
        "cohere-key",
        &["cohere", "co_api_key"],
        r#"(?i)(?:cohere|co_api_key)[\w.-]{0,30}['"]?\s{0,3}(?:=|:|:=|=>|,)\s{0,3}['"`]?([A-Za-z0-9]{40})\b"#,
        0,
        120,
        false,
    ),
    // Generic shapes.
    r(
        "jwt",
        "jwt",
        &["eyj"],
        r"\b(eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_/\\-]{10,}(?:\.[A-Za-z0-9_/\\-]*)*={0,2})",
        1,
        8192,
        true,
    ),
    r(
        "private-key",
        "private-key",
        &["private key", "private key block"],
        r"(?s)(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.{0,300}?[A-Za-z0-9+/]{40}.*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z))",
        120,
        16384,
        true,
    ),
    r(
        "putty-key",
        "private-key",
        &["putty-user-key-file-"],
        r"(?s)(PuTTY-User-Key-File-\d.{0,8000}?Private-MAC: [0-9a-f]+)",
        0,
        8192,
        true,
    ),
    r(
        "age-secret-key",
        "private-key",
        &["age-secret-key-1"],
        r"(AGE-SECRET-KEY-1[0-9A-Z]{58})",
        0,
        80,
        true,
    ),
    r(
        "bearer-token",
        "bearer-token",
        &["bearer "],
        r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})",
        0,
        4096,
        false,
    ),
    r(
        "basic-auth",
        "basic-auth",
        &["basic "],
        r"(?i)\bbasic\s+([A-Za-z0-9+/]{12,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
        0,
        600,
        false,
    ),
    r(
        "sentry-token",
        "sentry-token",
        &["sntrys_", "sntryu_"],
        r"\b(sntry[su]_[A-Za-z0-9_=+/.-]{40,})",
        1,
        400,
        true,
    ),
    r(
        "databricks-token",
        "databricks-token",
        &["dapi"],
        r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b",
        1,
        40,
        true,
    ),
    r(
        "doppler-token",
        "doppler-token",
        &[
            "dp.pt.",
            "dp.st.",
            "dp.ct.",
            "dp.sa.",
            "dp.scim.",
            "dp.audit.",
        ],
        r"\b(dp\.(?:pt|st|ct|sa|scim|audit)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44})\b",
        1,
        60,
        true,
    ),
    r(
        "grafana-token",
        "grafana-token",
        &["glc_", "glsa_"],
        r"\b(gl(?:c_[A-Za-z0-9+/]{32,400}={0,2}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}))",
        1,
        420,
        true,
    ),
    r(
        "postman-key",
        "postman-key",
        &["pmak-"],
        r"\b(PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34})\b",
        1,
        70,
        true,
    ),
    r(
        "pulumi-token",
        "pulumi-token",
        &["pul-"],
        r"\b(pul-[a-f0-9]{40})\b",
        1,
        50,
        true,
    ),
    r(
        "linear-key",
        "linear-key",
        &["lin_api_"],
        r"\b(lin_api_[A-Za-z0-9]{40})\b",
        1,
        50,
        true,
    ),
    r(
        "flyio-token",
        "flyio-token",
        &["fo1_", "fm1a_", "fm1r_", "fm2_"],
        r"\b((?:fo1_[A-Za-z0-9_-]{43}|fm[12][ar]?_[A-Za-z0-9+/=_-]{100,}))",
        1,
        800,
        true,
    ),
    r(
        "docker-pat",
        "docker-token",
        &["dckr_pat_"],
        r"\b(dckr_pat_[A-Za-z0-9_-]{27,})",
        1,
        60,
        true,
    ),
    r(
        "sourcegraph-token",
        "sourcegraph-token",
        &["sgp_"],
        r"\b(sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40})\b",
        1,
        70,
        true,
    ),
    r(
        "tavily-key",
        "tavily-key",
        &["tvly-"],
        r"\b(tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})\b",
        1,
        50,
        true,
    ),
    r(
        "easypost-key",
        "easypost-key",
        &["ezak", "eztk"],
        r"\b(EZ[AT]K[a-zA-Z0-9]{54})\b",
        1,
        60,
        true,
    ),
    r(
        "onepassword-sa-token",
        "1password-token",
        &["ops_eyj"],
        r"\b(ops_eyJ[A-Za-z0-9+/=_-]{250,})",
        1,
        2000,
        true,
    ),
    r(
        "sidekiq-credentials",
        "sidekiq-token",
        &["__contribsys__com"],
        r#"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM['"]?\s*[:=]\s*['"]?([a-f0-9]{8}:[a-f0-9]{8})\b"#,
        20,
        40,
        true,
    ),
    r(
        "square-token",
        "square-token",
        &["sq0idp-", "sq0idk-", "sq0atp-", "sq0csp-", "eaaa"],
        r"\b((?:sq0(?:idp|idk|atp|csp)-[A-Za-z0-9_-]{22,60})|EAAA[A-Za-z0-9+=_-]{60})",
        1,
        70,
        true,
    ),
    r(
        "intra42-secret",
        "intra42-secret",
        &["s-s4t2"],
        r"\b(s-s4t2(?:ud|af)-[a-f0-9]{64})\b",
        1,
        80,
        true,
    ),
    r(
        "msteams-webhook",
        "teams-webhook",
        &["/webhookb2/", "outlook.office.com/webhook/"],
        r"(https://[A-Za-z0-9.-]*(?:outlook\.office\.com/webhook|webhook\.office\.com/webhookb2)/[A-Za-z0-9@/_-]{40,})",
        80,
        300,
        true,
    ),
    r(
        "twitch-stream-key",
        "twitch-key",
        &["live_"],
        r"\b(live_\d{6,12}_[A-Za-z0-9]{30})\b",
        1,
        60,
        true,
    ),
    r(
        "dependency-track-key",
        "dtrack-key",
        &["odt_"],
        r"\b(odt_[A-Za-z0-9]{32,40})\b",
        1,
        50,
        true,
    ),
    r(
        "notion-token",
        "notion-token",
        &["secret_", "ntn_"],
        r"\b((?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35}))\b",
        1,
        56,
        false,
    ),
    // More vendor prefixes.
    r(
        "vault-token",
        "vault-token",
        &["hvs.", "hvb.", "hvr."],
        r"\b(hv[sbr]\.[A-Za-z0-9_-]{24,400})",
        1,
        410,
        true,
    ),
    r(
        "newrelic-key",
        "newrelic-key",
        &["nrak-", "nraa-", "nriq-", "nrii-", "nrjs-"],
        r"\b(NR(?:AK|AA|IQ|II|JS)-[A-Za-z0-9_-]{19,40})\b",
        1,
        50,
        true,
    ),
    r(
        "newrelic-license",
        "newrelic-key",
        &["nral"],
        r"\b([a-z0-9]{36}NRAL)\b",
        37,
        5,
        true,
    ),
    r(
        "nuget-key",
        "nuget-key",
        &["oy2"],
        r"\b(oy2[a-z0-9]{43})\b",
        1,
        50,
        true,
    ),
    r(
        "salesforce-token",
        "salesforce-token",
        &["00d"],
        r"\b(00D[A-Za-z0-9]{12}![A-Za-z0-9._]{60,120})",
        1,
        140,
        true,
    ),
    r(
        "facebook-token",
        "facebook-token",
        &["eaac", "eaam", "eaag", "eaab"],
        r"\b(EAA[A-Za-z0-9]{100,400})",
        1,
        410,
        true,
    ),
    r(
        "facebook-app-token",
        "facebook-token",
        &["|"],
        r"\b(\d{15,16}\|[A-Za-z0-9_-]{27})\b",
        17,
        30,
        true,
    ),
    r(
        "onepassword-secret-key",
        "1password-key",
        &["a3-"],
        r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        1,
        50,
        true,
    ),
    r(
        "authress-key",
        "authress-key",
        &[".acc_", ".acc-"],
        r"\b((?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120})",
        50,
        160,
        true,
    ),
    r(
        "adobe-secret",
        "adobe-secret",
        &["p8e-"],
        r"\b(p8e-[a-zA-Z0-9]{32})\b",
        1,
        40,
        true,
    ),
    r(
        "openshift-token",
        "openshift-token",
        &["sha256~"],
        r"(sha256~[A-Za-z0-9_-]{43})\b",
        0,
        52,
        true,
    ),
    r(
        "dynatrace-token",
        "dynatrace-token",
        &["dt0c01."],
        r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        1,
        100,
        true,
    ),
    r(
        "adafruit-key",
        "adafruit-key",
        &["aio_"],
        r"\b(aio_[A-Za-z0-9]{28})\b",
        1,
        34,
        true,
    ),
    r(
        "cratesio-token",
        "cratesio-token",
        &["cio"],
        r"\b(cio[a-zA-Z0-9]{32})\b",
        1,
        36,
        false,
    ),
    r(
        "grafana-api-key",
        "grafana-token",
        &["eyjrijoi"],
        r"\b(eyJrIjoi[A-Za-z0-9]{40,100}={0,2})",
        1,
        110,
        true,
    ),
    r(
        "azure-devops-pat",
        "azure-token",
        &["azdo"],
        r"\b([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b",
        77,
        9,
        true,
    ),
    r(
        "netrc-entry",
        "netrc",
        &["machine "],
        r"(?m)(?:^|[\s`\x22'])(machine[ \t]+[A-Za-z0-9.-]+\s+login[ \t]+\S+\s+password[ \t]+\S+)",
        1,
        400,
        false,
    ),
    // Keys known only by their context (a vendor name or a fixed phrase next to them).
    r(
        "auth0-domain",
        "auth0-domain",
        &[".auth0.com"],
        r"((?:https?://)?\b[a-z0-9][a-z0-9-]{2,60}(?:\.[a-z]{2})?\.auth0\.com)\b",
        80,
        10,
        true,
    ),
    r(
        "codeclimate-reporter-id",
        "codeclimate-key",
        &["reporter_id"],
        r#"(?i)reporter_id['"]?\s*[:=]\s*['"]?([0-9a-f]{64})\b"#,
        20,
        90,
        false,
    ),
    r(
        "postmark-token",
        "postmark-token",
        &["postmark"],
        r#"(?i)postmark\w{0,20}['"]?\s*[:=,]\s*['"]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        0,
        90,
        false,
    ),
    r(
        "sonarqube-token",
        "sonarqube-token",
        &["sonar.login", "sonar.token"],
        r#"(?i)sonar\.(?:login|token)['"]?\s*[:=,]\s*['"]?((?:squ_)?[0-9a-f]{40})\b"#,
        0,
        90,
        false,
    ),
    r(
        "sourcegraph-context",
        "sourcegraph-token",
        &["sourcegraph"],
        r#"(?i)sourcegraph[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([0-9a-fA-F]{40})\b"#,
        0,
        120,
        false,
    ),
    r(
        "jfrog-context",
        "jfrog-token",
        &["artifactory"],
        r#"(?i)artifactory[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([A-Za-z0-9]{64,73})\b"#,
        0,
        140,
        false,
    ),
    r(
        "okta-token",
        "okta-token",
        &["okta"],
        r#"(?i)okta[^\n]{0,60}?(?:\n[^\n]{0,60}?)?['"=:\s](00[A-Za-z0-9_-]{40})\b"#,
        0,
        170,
        false,
    ),
    r(
        "twilio-key",
        "twilio-key",
        &["twilio"],
        r"(?i)twilio[\s\S]{0,80}?\b((?:SK|AC)[0-9a-fA-F]{32})\b",
        0,
        130,
        false,
    ),
    r(
        "thingsboard-token",
        "thingsboard-token",
        &["thingsboard.cloud/api/v1/"],
        r"thingsboard\.cloud/api/v1/([A-Za-z0-9]{20})\b",
        0,
        50,
        true,
    ),
    r(
        "truenas-api-key",
        "truenas-key",
        &["login_with_api_key"],
        r"(?i)login_with_api_key[\s\S]{0,60}?\b(\d+-[A-Za-z0-9]{64})\b",
        0,
        170,
        true,
    ),
    r(
        "vault-unseal-key",
        "vault-key",
        &["unseal"],
        r"(?i)\bunseal(?:\s+key\s+\d+:|\s+)\s*([A-Za-z0-9+/]{43,44}={0,2})",
        0,
        80,
        false,
    ),
    r(
        "jenkins-crumb",
        "jenkins-token",
        &["jenkins-crumb"],
        r#"(?i)jenkins-crumb['"]?\s*[:=]\s*([0-9a-f]{32,64})\b"#,
        0,
        90,
        false,
    ),
    r(
        "jenkins-initial-password",
        "password",
        &["password to proceed to installation"],
        r"(?i)password to proceed to installation:\s*([0-9a-f]{32})\b",
        0,
        80,
        true,
    ),
    // Credentials in code and prose: user and password go together, whatever they look like.
    r(
        "network-credential",
        "credentials",
        &["networkcredential("],
        r#"(?i)NetworkCredential\(\s*"([^"\n]{1,128})"\s*,\s*"([^"\n]{1,256})""#,
        0,
        420,
        false,
    ),
    r(
        "directory-entry",
        "credentials",
        &["directoryentry("],
        r#"(?i)DirectoryEntry\(\s*"([^"\n]{1,256})"\s*,\s*"([^"\n]{1,128})"\s*,\s*"([^"\n]{1,256})""#,
        0,
        700,
        false,
    ),
    r(
        "password-in-prose",
        "credentials",
        &["password is", "password for"],
        r#"(?i)\bpassword\s+(?:for\s+(?:the\s+)?user\s+['"]([^'"\n]{1,64})['"]\s+)?is\s+['"]([^'"\n]{1,128})['"]"#,
        0,
        240,
        false,
    ),
    r(
        "google-client-id",
        "google-client-id",
        &[".apps.googleusercontent.com"],
        r"\b(\d{10,14}-[a-z0-9]{32}\.apps\.googleusercontent\.com)",
        48,
        30,
        false,
    ),
];

/// A compiled rule.
pub(crate) struct Compiled {
    pub spec: RuleSpec,
    pub re: Regex,
}

/// Compiles the table (once per process).
pub(crate) fn compiled() -> &'static [Compiled] {
    static C: std::sync::OnceLock<Vec<Compiled>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        RULES
            .iter()
            .map(|s| Compiled {
                spec: *s,
                re: regex::bytes::RegexBuilder::new(s.regex)
                    .unicode(false)
                    .build()
                    .unwrap_or_else(|e| panic!("rule {} does not compile: {e}", s.id)),
            })
            .collect()
    })
}

/// True when a candidate looks like a documentation placeholder rather than a real secret: long runs of one
/// character, `EXAMPLE`, `xxxx`, `****`, `<...>`, `${...}`.
pub fn is_placeholder_value(v: &[u8]) -> bool {
    is_placeholder_value_inner(v) || mostly_one_char(v)
}

fn is_placeholder_value_inner(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    if v.starts_with(b"[REDACTED") || v.starts_with(b"[CONTENT") {
        return true;
    }
    let lower: Vec<u8> = v.iter().map(|b| b.to_ascii_lowercase()).collect();
    let has = |n: &[u8]| lower.windows(n.len()).any(|w| w == n);
    // A run of x's marks a placeholder (`sk-xxxxxxxx`) when it is long, or much of the value; a short run
    // inside a long random value (`…aaxxxXA0…`) happens by chance.
    let x_run = lower
        .split(|&b| b != b'x')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if has(b"example")
        || (x_run >= 4 && (x_run >= 6 || x_run * 4 >= lower.len()))
        || has(b"&lt;")
        || has(b"#{")
        || has(b"${")
        || has(b"****")
        || has(b"....")
        || has(b"your_")
        || has(b"your-")
        || has(b"placeholder")
        || has(b"<your")
        || has(b"redacted")
        || has(b"dummy")
    {
        return true;
    }
    if has_sequence(v) {
        return true;
    }
    let first = v[0];
    let last = v[v.len() - 1];
    (first == b'<' && last == b'>')
        || v.starts_with(b"${")
        || v.starts_with(b"{{")
        || v.starts_with(b"%(")
}

/// True for documentation markers only (`EXAMPLE`, `xxxx`, `<...>`): the check used for fixed-shape tokens,
/// whose prefix and shape already make them secrets.
pub fn is_doc_placeholder(v: &[u8]) -> bool {
    is_placeholder_value_inner(v) || {
        let mut counts = [0usize; 256];
        v.iter().for_each(|&b| counts[b as usize] += 1);
        v.len() >= 6 && counts.iter().max().copied().unwrap_or(0) * 100 >= v.len() * 85
    }
}

/// A run of 7 lower-case letters in sequence (`abcdefg`, `mnopqrs`): typed by hand, not random.
fn has_sequence(v: &[u8]) -> bool {
    let mut run = 1;
    for w in v.windows(2) {
        if w[0].is_ascii_lowercase() && w[1] == w[0] + 1 && w[1].is_ascii_lowercase() {
            run += 1;
            if run >= 7 {
                return true;
            }
        } else {
            run = 1;
        }
    }
    false
}

fn mostly_one_char(v: &[u8]) -> bool {
    // Mostly one character (aaaaaaaa, 00000000): at least 70% of the value.
    let mut counts = [0usize; 256];
    for &b in v {
        counts[b as usize] += 1;
    }
    v.len() >= 6 && counts.iter().max().copied().unwrap_or(0) * 10 >= v.len() * 7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles_and_has_a_literal_it_contains() {
        for c in compiled() {
            assert!(!c.spec.literals.is_empty(), "{}", c.spec.id);
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder_value(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder_value(b"xxxxxxxxxxxxxxxx"));
        assert!(!is_placeholder_value(
            b"wsEGdjnelIuVJy7VjzPhIzDz9YlDgiPBA3CO9PFw"
        ));
        assert!(is_placeholder_value(b"sk_abcdefghijklmnop123"));
        assert!(!is_placeholder_value(
            b"12345678-ABCD-ABCD-ABCD-1234567890AB"
        ));
    }
}
