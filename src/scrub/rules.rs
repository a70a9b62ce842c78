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
    /// Texts in which the rule must find something, with each part it must redact between `«` and `»`
    /// (the marks are not part of the text). The scrubber, given no known values, must turn each text into
    /// itself with exactly the marked parts replaced by placeholders, and this rule must be among the
    /// findings of each marked part. Made-up values of the right shape, never real ones.
    pub examples: &'static [&'static str],
    /// Near misses: texts in which this rule must find nothing (other rules and layers may).
    pub keeps: &'static [&'static str],
}

/// The rule table.
pub const RULES: &[RuleSpec] = &[
    // Cloud providers.
    RuleSpec {
        id: "aws-access-key-id",
        label: "aws-key",
        literals: &["akia", "asia", "abia", "acca", "a3t"],
        regex: r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        back: 1,
        fwd: 24,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "aws-bedrock-key",
        label: "aws-key",
        literals: &["absk"],
        regex: r"\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})",
        back: 1,
        fwd: 290,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "aws-bedrock-short",
        label: "aws-key",
        literals: &["bedrock-api-key-"],
        regex: r"(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%_-]{20,})",
        back: 0,
        fwd: 4096,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "aws-secret-context",
        label: "aws-secret",
        literals: &["aws"],
        regex: r#"(?i)aws.{0,30}?(?:secret|private)?.{0,20}?['"\s:=>]{1,6}([A-Za-z0-9/+]{40})\b"#,
        back: 60,
        fwd: 120,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "google-api-key",
        label: "google-key",
        literals: &["aiza"],
        regex: r"\b(AIza[0-9A-Za-z_-]{35})",
        back: 1,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "google-oauth-secret",
        label: "google-secret",
        literals: &["gocspx-"],
        regex: r"(GOCSPX-[A-Za-z0-9_-]{28})",
        back: 0,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "google-oauth-token",
        label: "google-token",
        literals: &["ya29."],
        regex: r"\b(ya29\.[0-9A-Za-z_-]{20,})",
        back: 1,
        fwd: 4096,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "google-refresh-token",
        label: "google-token",
        literals: &["1//0"],
        regex: r"\b(1//0[0-9A-Za-z_-]{30,})",
        back: 1,
        fwd: 1024,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "azure-storage-key",
        label: "azure-key",
        literals: &["accountkey=", "sharedaccesskey="],
        regex: r"(?i)(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})",
        back: 17,
        fwd: 140,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "azure-connection-string",
        label: "azure-credentials",
        literals: &["accountname=", "sharedaccesskeyname=", ";id="],
        regex: r#"(?i)((?:AccountName=[^;\s"']+;\s*AccountKey=[A-Za-z0-9+/]{20,}={0,2}|SharedAccessKeyName=[^;\s"']+;\s*SharedAccessKey=[A-Za-z0-9+/]{20,}={0,2}|Endpoint=https://[^;\s"']+;\s*Id=[^;\s"']+;\s*Secret=[A-Za-z0-9+/]{20,}={0,2}))"#,
        back: 120,
        fwd: 300,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "azure-ad-client-secret",
        label: "azure-secret",
        literals: &["q~"],
        regex: r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        back: 6,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "azure-sas-signature",
        label: "azure-sas",
        literals: &["sig="],
        regex: r"[?&;]sig=([A-Za-z0-9%+/=]{20,})",
        back: 1,
        fwd: 200,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "digitalocean-token",
        label: "do-token",
        literals: &["dop_v1_", "doo_v1_", "dor_v1_"],
        regex: r"\b(do[opr]_v1_[a-f0-9]{64})\b",
        back: 1,
        fwd: 72,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    // Source forges and CI.
    RuleSpec {
        id: "github-token",
        label: "github-token",
        literals: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        regex: r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b",
        back: 1,
        fwd: 260,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "github-pat",
        label: "github-token",
        literals: &["github_pat_"],
        regex: r"\b(github_pat_[A-Za-z0-9_]{22,255})\b",
        back: 1,
        fwd: 270,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "gitlab-token",
        label: "gitlab-token",
        literals: &[
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
        regex: r"\b((?:gl(?:pat|ptt|dt|rt|cbt|ft|imt|agent|soat|oas|ffct|wt)-|GR1348941)[A-Za-z0-9_.-]{20,})",
        back: 1,
        fwd: 300,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "bitbucket-app-password",
        label: "bitbucket-token",
        literals: &["atbb"],
        regex: r"\b(ATBB[A-Za-z0-9_=.-]{28,})",
        back: 1,
        fwd: 120,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "atlassian-token",
        label: "atlassian-token",
        literals: &["atatt3", "atctt3"],
        regex: r"\b(AT[AC]TT3[A-Za-z0-9_=\-]{20,400})",
        back: 1,
        fwd: 420,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "npm-token",
        label: "npm-token",
        literals: &["npm_"],
        regex: r"\b(npm_[A-Za-z0-9]{36})\b",
        back: 1,
        fwd: 44,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "pypi-token",
        label: "pypi-token",
        literals: &["pypi-ageichlwas5vcmc"],
        regex: r"(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        back: 0,
        fwd: 400,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    // Chat and payments.
    RuleSpec {
        id: "slack-token",
        label: "slack-token",
        literals: &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxo-", "xoxc-", "xoxd-",
            "xoxe.",
        ],
        regex: r"\b(xox[baprsocde]-\d[A-Za-z0-9-]{9,250}|xox[ar]-[A-Za-z0-9]{8,48}\b|xoxe\.xox[bp]-\d-[A-Za-z0-9]{60,250}|xoxe-\d-[A-Za-z0-9-]{60,250})",
        back: 1,
        fwd: 260,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "slack-app-token",
        label: "slack-token",
        literals: &["xapp-"],
        regex: r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)",
        back: 1,
        fwd: 200,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "slack-webhook",
        label: "slack-webhook",
        literals: &["hooks.slack.com/"],
        regex: r"((?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})",
        back: 8,
        fwd: 200,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "discord-webhook",
        label: "discord-webhook",
        literals: &["/api/webhooks/"],
        regex: r"(?i)discord(?:app)?\.com/api/webhooks/(\d+/[A-Za-z0-9_-]{30,})",
        back: 30,
        fwd: 140,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "telegram-bot-token",
        label: "telegram-token",
        literals: &[":aa"],
        regex: r"\b(\d{8,10}:AA[0-9A-Za-z_-]{32,33})\b",
        back: 11,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "stripe-key",
        label: "stripe-key",
        literals: &[
            "sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_",
        ],
        regex: r"\b((?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99})\b",
        back: 1,
        fwd: 110,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "stripe-webhook-secret",
        label: "stripe-key",
        literals: &["whsec_"],
        regex: r"\b(whsec_[A-Za-z0-9+/]{24,})",
        back: 1,
        fwd: 80,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sendgrid-key",
        label: "sendgrid-key",
        literals: &["sg."],
        regex: r"\b(SG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{39,50})\b",
        back: 1,
        fwd: 80,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "mailgun-key",
        label: "mailgun-key",
        literals: &["key-"],
        regex: r"\b(key-[0-9a-f]{32})\b",
        back: 1,
        fwd: 38,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "mailchimp-key",
        label: "mailchimp-key",
        literals: &["-us"],
        regex: r"\b([0-9a-f]{32}-us[0-9]{1,2})\b",
        back: 33,
        fwd: 6,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "shopify-token",
        label: "shopify-token",
        literals: &["shpat_", "shpca_", "shppa_", "shpss_"],
        regex: r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    // AI providers.
    RuleSpec {
        id: "anthropic-key",
        label: "anthropic-key",
        literals: &["sk-ant-"],
        regex: r"\b(sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{32,})",
        back: 1,
        fwd: 200,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "openai-key",
        label: "openai-key",
        literals: &["t3blbkfj"],
        regex: r"\b(sk-[A-Za-z0-9_-]{0,80}T3BlbkFJ[A-Za-z0-9_-]{16,100})",
        back: 100,
        fwd: 120,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "openai-project-key",
        label: "openai-key",
        literals: &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"],
        regex: r"\b(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250})",
        back: 1,
        fwd: 260,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sk-generic-key",
        label: "api-key",
        literals: &["sk-"],
        regex: r"\b(sk-[A-Za-z0-9_-]{32,200})",
        back: 1,
        fwd: 210,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "huggingface-token",
        label: "huggingface-token",
        literals: &["hf_"],
        regex: r"\b(hf_[A-Za-z0-9]{30,40})\b",
        back: 1,
        fwd: 44,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "huggingface-org-token",
        label: "huggingface-token",
        literals: &["api_org_"],
        regex: r"\b(api_org_[A-Za-z0-9]{30,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "groq-key",
        label: "groq-key",
        literals: &["gsk_"],
        regex: r"\b(gsk_[A-Za-z0-9]{48,56})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "perplexity-key",
        label: "perplexity-key",
        literals: &["pplx-"],
        regex: r"\b(pplx-[A-Za-z0-9]{40,56})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "xai-key",
        label: "xai-key",
        literals: &["xai-"],
        regex: r"\b(xai-[A-Za-z0-9]{60,100})\b",
        back: 1,
        fwd: 104,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "replicate-token",
        label: "replicate-token",
        literals: &["r8_"],
        regex: r"\b(r8_[A-Za-z0-9]{37})\b",
        back: 1,
        fwd: 42,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "cohere-context",
        label: "cohere-key",
        literals: &["cohere", "co_api_key"],
        regex: r#"(?i)(?:cohere|co_api_key)[\w.-]{0,30}['"]?\s{0,3}(?:=|:|:=|=>|,)\s{0,3}['"`]?([A-Za-z0-9]{40})\b"#,
        back: 0,
        fwd: 120,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    // Generic shapes.
    RuleSpec {
        id: "jwt",
        label: "jwt",
        literals: &["eyj"],
        regex: r"\b(eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_/\\-]{10,}(?:\.[A-Za-z0-9_/\\-]*)*={0,2})",
        back: 1,
        fwd: 8192,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "private-key",
        label: "private-key",
        literals: &["private key", "private key block"],
        regex: r"(?s)(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.{0,300}?[A-Za-z0-9+/]{40}.*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z))",
        back: 120,
        fwd: 16384,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "putty-key",
        label: "private-key",
        literals: &["putty-user-key-file-"],
        regex: r"(?s)(PuTTY-User-Key-File-\d.{0,8000}?Private-MAC: [0-9a-f]+)",
        back: 0,
        fwd: 8192,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "age-secret-key",
        label: "private-key",
        literals: &["age-secret-key-1"],
        regex: r"(AGE-SECRET-KEY-1[0-9A-Z]{58})",
        back: 0,
        fwd: 80,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "bearer-token",
        label: "bearer-token",
        literals: &["bearer "],
        regex: r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})",
        back: 0,
        fwd: 4096,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "basic-auth",
        label: "basic-auth",
        literals: &["basic "],
        regex: r"(?i)\bbasic\s+([A-Za-z0-9+/]{12,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
        back: 0,
        fwd: 600,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sentry-token",
        label: "sentry-token",
        literals: &["sntrys_", "sntryu_"],
        regex: r"\b(sntry[su]_[A-Za-z0-9_=+/.-]{40,})",
        back: 1,
        fwd: 400,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "databricks-token",
        label: "databricks-token",
        literals: &["dapi"],
        regex: r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "doppler-token",
        label: "doppler-token",
        literals: &[
            "dp.pt.",
            "dp.st.",
            "dp.ct.",
            "dp.sa.",
            "dp.scim.",
            "dp.audit.",
        ],
        regex: r"\b(dp\.(?:pt|st|ct|sa|scim|audit)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "grafana-token",
        label: "grafana-token",
        literals: &["glc_", "glsa_"],
        regex: r"\b(gl(?:c_[A-Za-z0-9+/]{32,400}={0,2}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}))",
        back: 1,
        fwd: 420,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "postman-key",
        label: "postman-key",
        literals: &["pmak-"],
        regex: r"\b(PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34})\b",
        back: 1,
        fwd: 70,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "pulumi-token",
        label: "pulumi-token",
        literals: &["pul-"],
        regex: r"\b(pul-[a-f0-9]{40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "linear-key",
        label: "linear-key",
        literals: &["lin_api_"],
        regex: r"\b(lin_api_[A-Za-z0-9]{40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "flyio-token",
        label: "flyio-token",
        literals: &["fo1_", "fm1a_", "fm1r_", "fm2_"],
        regex: r"\b((?:fo1_[A-Za-z0-9_-]{43}|fm[12][ar]?_[A-Za-z0-9+/=_-]{100,}))",
        back: 1,
        fwd: 800,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "docker-pat",
        label: "docker-token",
        literals: &["dckr_pat_"],
        regex: r"\b(dckr_pat_[A-Za-z0-9_-]{27,})",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sourcegraph-token",
        label: "sourcegraph-token",
        literals: &["sgp_"],
        regex: r"\b(sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40})\b",
        back: 1,
        fwd: 70,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "tavily-key",
        label: "tavily-key",
        literals: &["tvly-"],
        regex: r"\b(tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "easypost-key",
        label: "easypost-key",
        literals: &["ezak", "eztk"],
        regex: r"\b(EZ[AT]K[a-zA-Z0-9]{54})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "onepassword-sa-token",
        label: "1password-token",
        literals: &["ops_eyj"],
        regex: r"\b(ops_eyJ[A-Za-z0-9+/=_-]{250,})",
        back: 1,
        fwd: 2000,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sidekiq-credentials",
        label: "sidekiq-token",
        literals: &["__contribsys__com"],
        regex: r#"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM['"]?\s*[:=]\s*['"]?([a-f0-9]{8}:[a-f0-9]{8})\b"#,
        back: 20,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "square-token",
        label: "square-token",
        literals: &["sq0idp-", "sq0idk-", "sq0atp-", "sq0csp-", "eaaa"],
        regex: r"\b((?:sq0(?:idp|idk|atp|csp)-[A-Za-z0-9_-]{22,60})|EAAA[A-Za-z0-9+=_-]{60})",
        back: 1,
        fwd: 70,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "intra42-secret",
        label: "intra42-secret",
        literals: &["s-s4t2"],
        regex: r"\b(s-s4t2(?:ud|af)-[a-f0-9]{64})\b",
        back: 1,
        fwd: 80,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "msteams-webhook",
        label: "teams-webhook",
        literals: &["/webhookb2/", "outlook.office.com/webhook/"],
        regex: r"(https://[A-Za-z0-9.-]*(?:outlook\.office\.com/webhook|webhook\.office\.com/webhookb2)/[A-Za-z0-9@/_-]{40,})",
        back: 80,
        fwd: 300,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "twitch-stream-key",
        label: "twitch-key",
        literals: &["live_"],
        regex: r"\b(live_\d{6,12}_[A-Za-z0-9]{30})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "dependency-track-key",
        label: "dtrack-key",
        literals: &["odt_"],
        regex: r"\b(odt_[A-Za-z0-9]{32,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "notion-token",
        label: "notion-token",
        literals: &["secret_", "ntn_"],
        regex: r"\b((?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35}))\b",
        back: 1,
        fwd: 56,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    // More vendor prefixes.
    RuleSpec {
        id: "vault-token",
        label: "vault-token",
        literals: &["hvs.", "hvb.", "hvr."],
        regex: r"\b(hv[sbr]\.[A-Za-z0-9_-]{24,400})",
        back: 1,
        fwd: 410,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "newrelic-key",
        label: "newrelic-key",
        literals: &["nrak-", "nraa-", "nriq-", "nrii-", "nrjs-"],
        regex: r"\b(NR(?:AK|AA|IQ|II|JS)-[A-Za-z0-9_-]{19,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "newrelic-license",
        label: "newrelic-key",
        literals: &["nral"],
        regex: r"\b([a-z0-9]{36}NRAL)\b",
        back: 37,
        fwd: 5,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "nuget-key",
        label: "nuget-key",
        literals: &["oy2"],
        regex: r"\b(oy2[a-z0-9]{43})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "salesforce-token",
        label: "salesforce-token",
        literals: &["00d"],
        regex: r"\b(00D[A-Za-z0-9]{12}![A-Za-z0-9._]{60,120})",
        back: 1,
        fwd: 140,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "facebook-token",
        label: "facebook-token",
        literals: &["eaac", "eaam", "eaag", "eaab"],
        regex: r"\b(EAA[A-Za-z0-9]{100,400})",
        back: 1,
        fwd: 410,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "facebook-app-token",
        label: "facebook-token",
        literals: &["|"],
        regex: r"\b(\d{15,16}\|[A-Za-z0-9_-]{27})\b",
        back: 17,
        fwd: 30,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "onepassword-secret-key",
        label: "1password-key",
        literals: &["a3-"],
        regex: r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "authress-key",
        label: "authress-key",
        literals: &[".acc_", ".acc-"],
        regex: r"\b((?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120})",
        back: 50,
        fwd: 160,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "adobe-secret",
        label: "adobe-secret",
        literals: &["p8e-"],
        regex: r"\b(p8e-[a-zA-Z0-9]{32})\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "openshift-token",
        label: "openshift-token",
        literals: &["sha256~"],
        regex: r"(sha256~[A-Za-z0-9_-]{43})\b",
        back: 0,
        fwd: 52,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "dynatrace-token",
        label: "dynatrace-token",
        literals: &["dt0c01."],
        regex: r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        back: 1,
        fwd: 100,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "adafruit-key",
        label: "adafruit-key",
        literals: &["aio_"],
        regex: r"\b(aio_[A-Za-z0-9]{28})\b",
        back: 1,
        fwd: 34,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "cratesio-token",
        label: "cratesio-token",
        literals: &["cio"],
        regex: r"\b(cio[a-zA-Z0-9]{32})\b",
        back: 1,
        fwd: 36,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "grafana-api-key",
        label: "grafana-token",
        literals: &["eyjrijoi"],
        regex: r"\b(eyJrIjoi[A-Za-z0-9]{40,100}={0,2})",
        back: 1,
        fwd: 110,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "azure-devops-pat",
        label: "azure-token",
        literals: &["azdo"],
        regex: r"\b([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b",
        back: 77,
        fwd: 9,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "netrc-entry",
        label: "netrc",
        literals: &["machine "],
        regex: r"(?m)(?:^|[\s`\x22'])(machine[ \t]+[A-Za-z0-9.-]+\s+login[ \t]+\S+\s+password[ \t]+\S+)",
        back: 1,
        fwd: 400,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    // Keys known only by their context (a vendor name or a fixed phrase next to them).
    RuleSpec {
        id: "auth0-domain",
        label: "auth0-domain",
        literals: &[".auth0.com"],
        regex: r"((?:https?://)?\b[a-z0-9][a-z0-9-]{2,60}(?:\.[a-z]{2})?\.auth0\.com)\b",
        back: 80,
        fwd: 10,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "codeclimate-reporter-id",
        label: "codeclimate-key",
        literals: &["reporter_id"],
        regex: r#"(?i)reporter_id['"]?\s*[:=]\s*['"]?([0-9a-f]{64})\b"#,
        back: 20,
        fwd: 90,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "postmark-token",
        label: "postmark-token",
        literals: &["postmark"],
        regex: r#"(?i)postmark\w{0,20}['"]?\s*[:=,]\s*['"]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sonarqube-token",
        label: "sonarqube-token",
        literals: &["sonar.login", "sonar.token"],
        regex: r#"(?i)sonar\.(?:login|token)['"]?\s*[:=,]\s*['"]?((?:squ_)?[0-9a-f]{40})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "sourcegraph-context",
        label: "sourcegraph-token",
        literals: &["sourcegraph"],
        regex: r#"(?i)sourcegraph[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([0-9a-fA-F]{40})\b"#,
        back: 0,
        fwd: 120,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "jfrog-context",
        label: "jfrog-token",
        literals: &["artifactory"],
        regex: r#"(?i)artifactory[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([A-Za-z0-9]{64,73})\b"#,
        back: 0,
        fwd: 140,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "okta-token",
        label: "okta-token",
        literals: &["okta"],
        regex: r#"(?i)okta[^\n]{0,60}?(?:\n[^\n]{0,60}?)?['"=:\s](00[A-Za-z0-9_-]{40})\b"#,
        back: 0,
        fwd: 170,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "twilio-key",
        label: "twilio-key",
        literals: &["twilio"],
        regex: r"(?i)twilio[\s\S]{0,80}?\b((?:SK|AC)[0-9a-fA-F]{32})\b",
        back: 0,
        fwd: 130,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "thingsboard-token",
        label: "thingsboard-token",
        literals: &["thingsboard.cloud/api/v1/"],
        regex: r"thingsboard\.cloud/api/v1/([A-Za-z0-9]{20})\b",
        back: 0,
        fwd: 50,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "truenas-api-key",
        label: "truenas-key",
        literals: &["login_with_api_key"],
        regex: r"(?i)login_with_api_key[\s\S]{0,60}?\b(\d+-[A-Za-z0-9]{64})\b",
        back: 0,
        fwd: 170,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "vault-unseal-key",
        label: "vault-key",
        literals: &["unseal"],
        regex: r"(?i)\bunseal(?:\s+key\s+\d+:|\s+)\s*([A-Za-z0-9+/]{43,44}={0,2})",
        back: 0,
        fwd: 80,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "jenkins-crumb",
        label: "jenkins-token",
        literals: &["jenkins-crumb"],
        regex: r#"(?i)jenkins-crumb['"]?\s*[:=]\s*([0-9a-f]{32,64})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "jenkins-initial-password",
        label: "password",
        literals: &["password to proceed to installation"],
        regex: r"(?i)password to proceed to installation:\s*([0-9a-f]{32})\b",
        back: 0,
        fwd: 80,
        high_confidence: true,
        examples: &[],
        keeps: &[],
    },
    // Credentials in code and prose: user and password go together, whatever they look like.
    RuleSpec {
        id: "network-credential",
        label: "credentials",
        literals: &["networkcredential("],
        regex: r#"(?i)NetworkCredential\(\s*"([^"\n]{1,128})"\s*,\s*"([^"\n]{1,256})""#,
        back: 0,
        fwd: 420,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "directory-entry",
        label: "credentials",
        literals: &["directoryentry("],
        regex: r#"(?i)DirectoryEntry\(\s*"([^"\n]{1,256})"\s*,\s*"([^"\n]{1,128})"\s*,\s*"([^"\n]{1,256})""#,
        back: 0,
        fwd: 700,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "password-in-prose",
        label: "credentials",
        literals: &["password is", "password for"],
        regex: r#"(?i)\bpassword\s+(?:for\s+(?:the\s+)?user\s+['"]([^'"\n]{1,64})['"]\s+)?is\s+['"]([^'"\n]{1,128})['"]"#,
        back: 0,
        fwd: 240,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
    RuleSpec {
        id: "google-client-id",
        label: "google-client-id",
        literals: &[".apps.googleusercontent.com"],
        regex: r"\b(\d{10,14}-[a-z0-9]{32}\.apps\.googleusercontent\.com)",
        back: 48,
        fwd: 30,
        high_confidence: false,
        examples: &[],
        keeps: &[],
    },
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
