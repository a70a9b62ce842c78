//! Shared. Layer 3: fixed-shape tokens found by pattern.
//!
//! Every rule names the literals its matches must contain (checked case-insensitively by one Aho-Corasick
//! automaton over all rules), so a rule's regex runs only in a window around a literal hit. Rules marked
//! high-confidence are also used by the fail-closed final check.
//!
//! ```
//! use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
//!
//! let aws = Scrubber::rules().iter().find(|r| r.id == "aws-access-key-id").unwrap();
//! // Each rule carries made-up examples with the part it must redact between « and ».
//! let example = aws.examples[0];
//! let start = example.find('«').unwrap() + '«'.len_utf8();
//! let secret = &example[start..example.find('»').unwrap()];
//! let text = example.replace(['«', '»'], "");
//!
//! // No known values: the pattern alone finds the token.
//! let scrubber = Scrubber::new(ScrubOptions::default());
//! assert!(!scrubber.scrub_str("app.log", &text).contains(secret));
//! assert!(scrubber.report().members["app.log"].contains_key("pattern:aws-access-key-id"));
//! ```

use regex::bytes::Regex;

/// One pattern rule.
///
/// Example: [`crate::scrub::rules`].
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
    /// A check of the redacted part beyond the regex, when the shape alone is not enough; `None`: none.
    pub check: Option<fn(&[u8]) -> bool>,
    /// Texts in which the rule must find something, with each part it must redact between `«` and `»`
    /// (the marks are not part of the text). The scrubber, given no known values, must turn each text into
    /// itself with exactly the marked parts replaced by placeholders, and this rule must be among the
    /// findings of each marked part. Made-up values of the right shape, never real ones.
    pub examples: &'static [&'static str],
    /// Near misses: texts in which this rule must find nothing (other rules and layers may).
    pub keeps: &'static [&'static str],
}

/// The rule table.
pub(crate) const RULES: &[RuleSpec] = &[
    // Cloud providers.
    RuleSpec {
        id: "aws-access-key-id",
        label: "aws-key",
        literals: &["akia", "asia", "abia", "acca", "a3t"],
        regex: r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        back: 1,
        fwd: 24,
        high_confidence: true,
        check: None,
        examples: &["aws_access_key_id = «AKIAVQJXXVBOTHD2WTFL»", "\"AccessKeyId\": \"«ASIAHBMUAPTT2ZN5X2PD»\""],
        keeps: &["aws_access_key_id = AKIAQXRYONJ3DYBVZXG", "AKIA1234567890ABCDEF"],
    },
    RuleSpec {
        id: "aws-bedrock-key",
        label: "aws-key",
        literals: &["absk"],
        regex: r"\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})",
        back: 1,
        fwd: 290,
        high_confidence: true,
        check: None,
        examples: &["AWS_BEARER_TOKEN_BEDROCK=«ABSKqa6tcVy4DHkmLrDzq9qStxuUsNh6AV1iB8PP1XXxhu0bsCjxJ675EvQ30xyQAnudQn9nIFP28UWcdYDESOKf5nsaLLSnDv40j599DtczwzyVrszEYX4aG8sSAXtMKNUJ»"],
        keeps: &["ABSK64ax6vm2EWmUby6RFnCakeiouTTyPatiK27F4T3TgOLubYXrMxbyq0dvBPAG"],
    },
    RuleSpec {
        id: "aws-bedrock-short",
        label: "aws-key",
        literals: &["bedrock-api-key-"],
        regex: r"(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%_-]{20,})",
        back: 0,
        fwd: 4096,
        high_confidence: true,
        check: None,
        examples: &["«bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t1XykIUmW7tPhd8bhBnDzu0nyj2GcLnBC7hRD0apS»"],
        keeps: &["bedrock-api-key-rotation is enabled"],
    },
    RuleSpec {
        id: "aws-secret-context",
        label: "aws-secret",
        literals: &["aws"],
        regex: r#"(?i)aws.{0,30}?(?:secret|private)?.{0,20}?['"\s:=>]{1,6}([A-Za-z0-9/+]{40})\b"#,
        back: 60,
        fwd: 120,
        high_confidence: false,
        check: None,
        examples: &["aws_secret_access_key = «MyAusrcSLLzQ3zYCzoKn8GAw18VJSGj0wU8fXtWx»"],
        keeps: &["AWS_SECRET_ACCESS_KEY=QXNI7Z9kWrKnR4Ae28UZ5ErtPpwZub4Q60SSKdi1edl0", "aws region: us-east-1"],
    },
    RuleSpec {
        id: "google-api-key",
        label: "google-key",
        literals: &["aiza"],
        regex: r"\b(AIza[0-9A-Za-z_-]{35})",
        back: 1,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key=«AIzatpnBPJAVA1BmzWimLVDP5GJtRd8oSJ-lNz5»"],
        keeps: &["AIzaythy2iVgyf0Eyf2eXfjG"],
    },
    RuleSpec {
        id: "google-oauth-secret",
        label: "google-secret",
        literals: &["gocspx-"],
        regex: r"(GOCSPX-[A-Za-z0-9_-]{28})",
        back: 0,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["client_secret: «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»"],
        keeps: &["GOCSPX-Cevv8BoHuv"],
    },
    RuleSpec {
        id: "google-oauth-token",
        label: "google-token",
        literals: &["ya29."],
        regex: r"\b(ya29\.[0-9A-Za-z_-]{20,})",
        back: 1,
        fwd: 4096,
        high_confidence: true,
        check: None,
        examples: &["token=«ya29.cgYBy9Lmr4PaWbP3gvY1pIXoQOrgRb5vPG5c6qSYhzYTFQy6k1qJAH4DxD3EoA1zCC-A4cGofFQrGZ7iHyEpp2LNY2PG17_Dum2JnkOGORtaUrvPq09OIvEz»"],
        keeps: &["ya29.short"],
    },
    RuleSpec {
        id: "google-refresh-token",
        label: "google-token",
        literals: &["1//0"],
        regex: r"\b(1//0[0-9A-Za-z_-]{30,})",
        back: 1,
        fwd: 1024,
        high_confidence: false,
        check: None,
        examples: &["\"refresh_token\": \"«1//0wj9qYUCs19aVmP2GuaEsSuFfGuL8Opk_hjn45p-ed75CnrQSkZ5B70co8w7rqhY2yP_PTZSjQlojQU3G9dyPqAXen_»\""],
        keeps: &["1//0BTFEEhV0Fg"],
    },
    RuleSpec {
        id: "azure-storage-key",
        label: "azure-key",
        literals: &["accountkey=", "sharedaccesskey="],
        regex: r"(?i)(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})",
        back: 17,
        fwd: 140,
        high_confidence: true,
        check: None,
        examples: &["AccountKey=«2Xpvd8aFotOVygKysRiIbsED1s3WLJ46fUQ3SxrO5qHGyRzjD6f58lkIDErUAUIfTeVgJFlG1GjK7BWkgFgHGS==»"],
        keeps: &["AccountKey=abc"],
    },
    RuleSpec {
        id: "azure-connection-string",
        label: "azure-credentials",
        literals: &["accountname=", "sharedaccesskeyname=", ";id="],
        regex: r#"(?i)((?:AccountName=[^;\s"']+;\s*AccountKey=[A-Za-z0-9+/]{20,}={0,2}|SharedAccessKeyName=[^;\s"']+;\s*SharedAccessKey=[A-Za-z0-9+/]{20,}={0,2}|Endpoint=https://[^;\s"']+;\s*Id=[^;\s"']+;\s*Secret=[A-Za-z0-9+/]{20,}={0,2}))"#,
        back: 120,
        fwd: 300,
        high_confidence: true,
        check: None,
        examples: &["DefaultEndpointsProtocol=https;«AccountName=staccthd0v;AccountKey=LHfKA84V7BmWndLFbkp4B2LOpdBWamBJ8kvUXGAAjL7lrIIqBljMwztSuRYRGSvjn8oljTQcDPA0wi2kK8XXO3==»;EndpointSuffix=core.windows.net"],
        keeps: &["DefaultEndpointsProtocol=https;AccountName=stacct68uo;EndpointSuffix=core.windows.net"],
    },
    RuleSpec {
        id: "azure-ad-client-secret",
        label: "azure-secret",
        literals: &["q~"],
        regex: r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        back: 6,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["AZURE_CLIENT_SECRET=\"«v6V8Q~-~M0K5I.QKWuonaiIFeClAV_Q5zVqMll8z»\""],
        keeps: &["x8Q~klIsPymzeL"],
    },
    RuleSpec {
        id: "azure-sas-signature",
        label: "azure-sas",
        literals: &["sig="],
        regex: r"[?&;]sig=([A-Za-z0-9%+/=]{20,})",
        back: 1,
        fwd: 200,
        high_confidence: true,
        check: None,
        examples: &["https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&se=2025-01-01&sp=r&sig=«ltcppaWvV82bhzo0VK3zDJyycFRPX8ih5VBLJOMSX29%3D»"],
        keeps: &["?sp=r&sig=abc"],
    },
    RuleSpec {
        id: "digitalocean-token",
        label: "do-token",
        literals: &["dop_v1_", "doo_v1_", "dor_v1_"],
        regex: r"\b(do[opr]_v1_[a-f0-9]{64})\b",
        back: 1,
        fwd: 72,
        high_confidence: true,
        check: None,
        examples: &["DIGITALOCEAN_TOKEN=«dop_v1_a41cbb44f0753903870712d5f63adfa395d6cff31aeea03bdba261ad590acbc5»"],
        keeps: &["dop_v1_fbb5ecb983b410e6f58de9b9d56191e28c2f2388"],
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
        check: None,
        examples: &["git clone https://«ghp_wo9bZg9DB057anUhLWf5seVpmzuikk6q4o5w»@github.com/org/repo.git"],
        keeps: &["ghp_3ZcvfbzsNTmy467O6HhD"],
    },
    RuleSpec {
        id: "github-pat",
        label: "github-token",
        literals: &["github_pat_"],
        regex: r"\b(github_pat_[A-Za-z0-9_]{22,255})\b",
        back: 1,
        fwd: 270,
        high_confidence: true,
        check: None,
        examples: &["GH_TOKEN=«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»"],
        keeps: &["github_pat_short"],
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
        check: None,
        examples: &["PRIVATE-TOKEN: «glpat-s0Z054lyYvC1Pfrs8a2g»"],
        keeps: &["glpat-short"],
    },
    RuleSpec {
        id: "bitbucket-app-password",
        label: "bitbucket-token",
        literals: &["atbb"],
        regex: r"\b(ATBB[A-Za-z0-9_=.-]{28,})",
        back: 1,
        fwd: 120,
        high_confidence: true,
        check: None,
        examples: &["bitbucket app password: «ATBBy4BiJbKADi9ITk27vTKPK8Mc3MmCsbNt»"],
        keeps: &["ATBBtWxTkwCjZk"],
    },
    RuleSpec {
        id: "atlassian-token",
        label: "atlassian-token",
        literals: &["atatt3", "atctt3"],
        regex: r"\b(AT[AC]TT3[A-Za-z0-9_=\-]{20,400})",
        back: 1,
        fwd: 420,
        high_confidence: true,
        check: None,
        examples: &["JIRA_API_TOKEN=«ATATT3xFfGF02pSEH093fJ9FoPTQcwcSUzRjzAvlApEau5MOhh5f-GRanc-AbCNWddooazVW6D3Ek3PXfKHja5UfYEuHWKSu8DsAnRfwV5srCLFfHHQcMZHP59YzK4D6-gLtHW_zQYc85nN7jF30XioDzH_nrWHutV3l_sMO927u2At1YvpmM5NyTFFrCVY0=»"],
        keeps: &["ATATT3short"],
    },
    RuleSpec {
        id: "npm-token",
        label: "npm-token",
        literals: &["npm_"],
        regex: r"\b(npm_[A-Za-z0-9]{36})\b",
        back: 1,
        fwd: 44,
        high_confidence: true,
        check: None,
        examples: &["//registry.npmjs.org/:_authToken=«npm_OLHcHz9OzgRP27yMbNbz7haoTeSXTtfsLeTn»"],
        keeps: &["npm_OqAOboKWWoa7ToGGydI0"],
    },
    RuleSpec {
        id: "pypi-token",
        label: "pypi-token",
        literals: &["pypi-ageichlwas5vcmc"],
        regex: r"(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        back: 0,
        fwd: 400,
        high_confidence: true,
        check: None,
        examples: &["password = «pypi-AgEIcHlwaS5vcmcoIQH1YUDml66yBGQAd7xbpGuBQR2rBWxoQ43iEDBTwE27wh77HbLYQZ-9pnLDSwHxk64vT»"],
        keeps: &["pypi-AgEIcHlwaS5vcmcg40QpQZoNb"],
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
        check: None,
        examples: &["SLACK_BOT_TOKEN=«xoxb-8558453768-6167140471378-hlkxzpeNX21i1e0fFKJkCSSY»"],
        keeps: &["xoxb-not-a-token"],
    },
    RuleSpec {
        id: "slack-app-token",
        label: "slack-token",
        literals: &["xapp-"],
        regex: r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)",
        back: 1,
        fwd: 200,
        high_confidence: true,
        check: None,
        examples: &["SLACK_APP_TOKEN=«xapp-1-ATPGFFNWOEE-3209507490919-e92776e2051ccb9b2baee4458edb3ce587e4620fcd39a4d824aebf9c5ec6211d»"],
        keeps: &["xapp-token"],
    },
    RuleSpec {
        id: "slack-webhook",
        label: "slack-webhook",
        literals: &["hooks.slack.com/"],
        regex: r"((?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})",
        back: 8,
        fwd: 200,
        high_confidence: true,
        check: None,
        examples: &["«https://hooks.slack.com/services/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»"],
        keeps: &["see https://hooks.slack.com/apps"],
    },
    RuleSpec {
        id: "discord-webhook",
        label: "discord-webhook",
        literals: &["/api/webhooks/"],
        regex: r"(?i)discord(?:app)?\.com/api/webhooks/(\d+/[A-Za-z0-9_-]{30,})",
        back: 30,
        fwd: 140,
        high_confidence: true,
        check: None,
        examples: &["https://discord.com/api/webhooks/«2958046151888095330/JCOp95Wl0Rka53ZMG7SRXIRFU19aC-KkD2lQ1d595wxJJoT6V3RZke4rnO88YlvVLWeP»"],
        keeps: &["https://ci.internal/api/webhooks/42/DrsGVsdcS0SUuqaakMZbOzDXrzRQpTA3VynMF143"],
    },
    RuleSpec {
        id: "telegram-bot-token",
        label: "telegram-token",
        literals: &[":aa"],
        regex: r"\b(\d{8,10}:AA[0-9A-Za-z_-]{32,33})\b",
        back: 11,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["bot = Bot(token=\"«844680498:AAlJczo4UehRiXDnB9uIXRxKokkJoWttOZQ»\")"],
        keeps: &["12:AAshort"],
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
        check: None,
        examples: &["stripe.api_key = \"«sk_test_K1qOG1vNSyEJrkG955u3KGxq»\""],
        keeps: &["sk_test_abc"],
    },
    RuleSpec {
        id: "stripe-webhook-secret",
        label: "stripe-key",
        literals: &["whsec_"],
        regex: r"\b(whsec_[A-Za-z0-9+/]{24,})",
        back: 1,
        fwd: 80,
        high_confidence: true,
        check: None,
        examples: &["STRIPE_WEBHOOK_SECRET=«whsec_mLo6uSbcHO73em2hpCnmzDv1cTpLPkOb»"],
        keeps: &["whsec_short"],
    },
    RuleSpec {
        id: "sendgrid-key",
        label: "sendgrid-key",
        literals: &["sg."],
        regex: r"\b(SG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{39,50})\b",
        back: 1,
        fwd: 80,
        high_confidence: true,
        check: None,
        examples: &["SENDGRID_API_KEY=«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»"],
        keeps: &["SG.short.value"],
    },
    RuleSpec {
        id: "mailgun-key",
        label: "mailgun-key",
        literals: &["key-"],
        regex: r"\b(key-[0-9a-f]{32})\b",
        back: 1,
        fwd: 38,
        high_confidence: false,
        check: None,
        examples: &["MAILGUN_API_KEY=«key-38acdc4bbe92537f2f26ff29c1026be5»"],
        keeps: &["key-5ac964131b5250f0"],
    },
    RuleSpec {
        id: "mailchimp-key",
        label: "mailchimp-key",
        literals: &["-us"],
        regex: r"\b([0-9a-f]{32}-us[0-9]{1,2})\b",
        back: 33,
        fwd: 6,
        high_confidence: true,
        check: None,
        examples: &["mailchimp api key: «67b74c68bd1ee27518e4bd6e1e465a78-us21»"],
        keeps: &["29ebc325bd99413187604e8ef1b12a80-usa"],
    },
    RuleSpec {
        id: "shopify-token",
        label: "shopify-token",
        literals: &["shpat_", "shpca_", "shppa_", "shpss_"],
        regex: r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["X-Shopify-Access-Token: «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»"],
        keeps: &["shpat_de1797abd7"],
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
        check: None,
        examples: &["ANTHROPIC_API_KEY=«sk-ant-api03-KM5H_kT9SBG9BaJTBdv3j7y59R5ZfA1LYKvG5KPyyRdyO57Ojp6HQ6iTlY8K-qy0VptOtRY-l31pnGQwBCH2quXXJy_OxAA»"],
        keeps: &["sk-ant-api03-short"],
    },
    RuleSpec {
        id: "openai-key",
        label: "openai-key",
        literals: &["t3blbkfj"],
        regex: r"\b(sk-[A-Za-z0-9_-]{0,80}T3BlbkFJ[A-Za-z0-9_-]{16,100})",
        back: 100,
        fwd: 120,
        high_confidence: true,
        check: None,
        examples: &["OPENAI_API_KEY=«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»"],
        keeps: &["T3BlbkFJ is base64 for OpenAI"],
    },
    RuleSpec {
        id: "openai-project-key",
        label: "openai-key",
        literals: &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"],
        regex: r"\b(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250})",
        back: 1,
        fwd: 260,
        high_confidence: true,
        check: None,
        examples: &["OPENAI_API_KEY=«sk-proj-b180acfA0QN6DqJ-qkHchd4--uJGJFxUDZtqxgQI_X8pIKl2T-YIrBImDyn2FfQ6OcOs1ufYvLyonGeuSyX1IHeEgy14IImYd5fn_KVKDGk7fi0B4IIlL3eZ»"],
        keeps: &["sk-proj-short"],
    },
    RuleSpec {
        id: "sk-generic-key",
        label: "api-key",
        literals: &["sk-"],
        regex: r"\b(sk-[A-Za-z0-9_-]{32,200})",
        back: 1,
        fwd: 210,
        high_confidence: false,
        check: None,
        examples: &["api_key = \"«sk-H38G90t0r7hIa90HBv6NfwlwKcfC49gCOjgpTQsatw7I44Bo»\""],
        keeps: &["disk-usage-report-for-all-cluster-nodes-and-volumes", "sk-TdXPsLTvMhEeb3HkrpsB"],
    },
    RuleSpec {
        id: "huggingface-token",
        label: "huggingface-token",
        literals: &["hf_"],
        regex: r"\b(hf_[A-Za-z0-9]{30,40})\b",
        back: 1,
        fwd: 44,
        high_confidence: true,
        check: None,
        examples: &["HF_TOKEN=«hf_6DU0qRilIYZQJnrwdsthUWQIL0wu8duS7Y»"],
        keeps: &["from huggingface_hub import hf_hub_download"],
    },
    RuleSpec {
        id: "huggingface-org-token",
        label: "huggingface-token",
        literals: &["api_org_"],
        regex: r"\b(api_org_[A-Za-z0-9]{30,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["«api_org_TaRGkL90Ry79Tsj9vVQAPtAre3dYLqTpmJ»"],
        keeps: &["api_org_settings"],
    },
    RuleSpec {
        id: "groq-key",
        label: "groq-key",
        literals: &["gsk_"],
        regex: r"\b(gsk_[A-Za-z0-9]{48,56})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        check: None,
        examples: &["GROQ_API_KEY=«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»"],
        keeps: &["gsk_sqWVguuxk6um8KZLySV1"],
    },
    RuleSpec {
        id: "perplexity-key",
        label: "perplexity-key",
        literals: &["pplx-"],
        regex: r"\b(pplx-[A-Za-z0-9]{40,56})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        check: None,
        examples: &["PERPLEXITY_API_KEY=«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»"],
        keeps: &["model: pplx-7b-online"],
    },
    RuleSpec {
        id: "xai-key",
        label: "xai-key",
        literals: &["xai-"],
        regex: r"\b(xai-[A-Za-z0-9]{60,100})\b",
        back: 1,
        fwd: 104,
        high_confidence: true,
        check: None,
        examples: &["XAI_API_KEY=«xai-X0OWKz0GE3Az0YgBANSeQahYKELkd703IuYoR19jnsE7raShPEVFhnLy0ZEIMhxnmCIk8iJPGJ82YWDM»"],
        keeps: &["xai-org/grok-1"],
    },
    RuleSpec {
        id: "replicate-token",
        label: "replicate-token",
        literals: &["r8_"],
        regex: r"\b(r8_[A-Za-z0-9]{37})\b",
        back: 1,
        fwd: 42,
        high_confidence: true,
        check: None,
        examples: &["REPLICATE_API_TOKEN=«r8_sp1bPwWsOLaL3UpaJUZyjDElUTfMJIbPD4DlS»"],
        keeps: &["r8_short"],
    },
    RuleSpec {
        id: "cohere-context",
        label: "cohere-key",
        literals: &["cohere", "co_api_key"],
        regex: r#"(?i)(?:cohere|co_api_key)[\w.-]{0,30}['"]?\s{0,3}(?:=|:|:=|=>|,)\s{0,3}['"`]?([A-Za-z0-9]{40})\b"#,
        back: 0,
        fwd: 120,
        high_confidence: false,
        check: None,
        examples: &["COHERE_API_KEY=«n8qJpmkhp38vG69lPvoSxJwcogy9QFIT5qkXDe5p»", "cohere_key: «7z2QS1CyyVJ8Lb38kFD4QXhunouVqflYXWUU6JSy»"],
        keeps: &["cohere: command-r-plus", "COHERE_API_KEY=yjDHgET63REuOhN4q0wTCBBVFsIVNgm8kLCJZWo5X"],
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
        check: None,
        examples: &["id_token=«eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTM0MTQiLCJpYXQiOjE3MDAwMDAwMDB9.ozR2hsWCX_-OqWzIRF-f4En1ni6ZUKSYPsmp9b2tZb_»"],
        keeps: &["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 has no payload"],
    },
    RuleSpec {
        id: "private-key",
        label: "private-key",
        literals: &["private key", "private key block"],
        regex: r"(?s)(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.{0,300}?[A-Za-z0-9+/]{40}.*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z))",
        back: 120,
        fwd: 16384,
        high_confidence: true,
        check: None,
        examples: &["«-----BEGIN PRIVATE KEY-----\nuXDPzyvLyBb5ixXQUUS9JyxQy/pyKsN+WKNDozsq3gq8iJIfFFHIue9tTbXUFrYy\nfe1dKeKCEBG4ypekt905BfZU0ONfc6RazG7kddFrwn+GUNNBJMWBWm4Co6WcxZEC\nX2ke0wMd4F323/M6cM+RgKstWZ9CxqvH3YSMsVCDjAOwtmh2zmMV26r5Z0BBmOQW\nmscltLEAeelgmX8769uNfwmgagTfHiKlCWsC4bBB97etyXwLTZ10NLnJqrFxPD2r\n-----END PRIVATE KEY-----»"],
        keeps: &["-----BEGIN PRIVATE KEY-----\n(elided)\n-----END PRIVATE KEY-----", "rotate the private key every 90 days"],
    },
    RuleSpec {
        id: "putty-key",
        label: "private-key",
        literals: &["putty-user-key-file-"],
        regex: r"(?s)(PuTTY-User-Key-File-\d.{0,8000}?Private-MAC: [0-9a-f]+)",
        back: 0,
        fwd: 8192,
        high_confidence: true,
        check: None,
        examples: &["«PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\nj2qj2rQcG0f6kM2BZ2v9kw53HPgyG15jsqKozThy94wa6lhhT1e0rkQHIzZMzbZJ\ncFzPnZiv7R7O2zROERRm\nPrivate-Lines: 1\n9STut24Hxmqa9kNRli7jYZleq5VInbDPNKaSvqYCGqk9\nPrivate-MAC: 3d5975e3d1f92f0049f6efb5ea7841cba6dcd9ed85c937eaff7584591de0ea22»"],
        keeps: &["PuTTY-User-Key-File-3: ssh-ed25519"],
    },
    RuleSpec {
        id: "age-secret-key",
        label: "private-key",
        literals: &["age-secret-key-1"],
        regex: r"(AGE-SECRET-KEY-1[0-9A-Z]{58})",
        back: 0,
        fwd: 80,
        high_confidence: true,
        check: None,
        examples: &["«AGE-SECRET-KEY-1796QFKUU3Q2ZCLQ0QKXQHV8ARQS8X0AKW0UTWL0P2KZHEFRP038ZWV5GWG»"],
        keeps: &["AGE-SECRET-KEY-1FLFKDKF4PCK47WGQJC6T"],
    },
    RuleSpec {
        id: "bearer-token",
        label: "bearer-token",
        literals: &["bearer "],
        regex: r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})",
        back: 0,
        fwd: 4096,
        high_confidence: false,
        check: None,
        examples: &["Authorization: Bearer «ETGpgqpOk394rEupIEuM6f2LjrLV8eBh»"],
        keeps: &["Bearer abc123", "the bearer token goes in a header"],
    },
    RuleSpec {
        id: "basic-auth",
        label: "basic-auth",
        literals: &["basic "],
        regex: r"(?i)\bbasic\s+([A-Za-z0-9+/]{12,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
        back: 0,
        fwd: 600,
        high_confidence: false,
        check: Some(basic_credentials),
        examples: &["Authorization: Basic «b3BzOmVSMDhVbktRU0V0aQ==»"],
        keeps: &[
            "WWW-Authenticate: Basic realm=\"api\"",
            "HTTP basic authentication is disabled",
        ],
    },
    RuleSpec {
        id: "sentry-token",
        label: "sentry-token",
        literals: &["sntrys_", "sntryu_"],
        regex: r"\b(sntry[su]_[A-Za-z0-9_=+/.-]{40,})",
        back: 1,
        fwd: 400,
        high_confidence: true,
        check: None,
        examples: &["SENTRY_AUTH_TOKEN=«sntrys_swfYLnOkgfQQAicFLq1zLzcQdpF6AdZeqQUx5wp6JfATbzzztAFQy9kL76ZRXS7OrJhl7ltZ5LgxkLUx»"],
        keeps: &["sntrys_short"],
    },
    RuleSpec {
        id: "databricks-token",
        label: "databricks-token",
        literals: &["dapi"],
        regex: r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["DATABRICKS_TOKEN=«dapib2eb25f1060336392750ec2458870715»"],
        keeps: &["dapic8498ec62ec9854c"],
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
        check: None,
        examples: &["DOPPLER_TOKEN=«dp.pt.YcZ7sD56QzGGofY5eBwQRCvmBoaFyajVV8UpAuDMkfX»"],
        keeps: &["dp.pt.short"],
    },
    RuleSpec {
        id: "grafana-token",
        label: "grafana-token",
        literals: &["glc_", "glsa_"],
        regex: r"\b(gl(?:c_[A-Za-z0-9+/]{32,400}={0,2}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}))",
        back: 1,
        fwd: 420,
        high_confidence: true,
        check: None,
        examples: &["GRAFANA_TOKEN=«glc_7NeuwZbQGCSOcYcQdaT3TfF3sqLOhM8iZDLVQ0oN0RWBsF9FAIiQg4YC6I116yKy5f6tPOFbBChcF1bq»", "«glsa_nKYesspnAStGZc42ASAqHon1z9X4mrQo_1b8ee556»"],
        keeps: &["glc_short"],
    },
    RuleSpec {
        id: "postman-key",
        label: "postman-key",
        literals: &["pmak-"],
        regex: r"\b(PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34})\b",
        back: 1,
        fwd: 70,
        high_confidence: true,
        check: None,
        examples: &["POSTMAN_API_KEY=«PMAK-436cdc8892711b041df3837a-a39b66303b554b72f5109a3a04818919f8»"],
        keeps: &["PMAK-short"],
    },
    RuleSpec {
        id: "pulumi-token",
        label: "pulumi-token",
        literals: &["pul-"],
        regex: r"\b(pul-[a-f0-9]{40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["PULUMI_ACCESS_TOKEN=«pul-a7fabf31d18c38378b59b6abf3e450f106f01194»"],
        keeps: &["pul-926fcfa607"],
    },
    RuleSpec {
        id: "linear-key",
        label: "linear-key",
        literals: &["lin_api_"],
        regex: r"\b(lin_api_[A-Za-z0-9]{40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["LINEAR_API_KEY=«lin_api_sUNLLqzYWMw368s7xsj9D65ULnfN30LVDGiJwHXc»"],
        keeps: &["lin_api_short"],
    },
    RuleSpec {
        id: "flyio-token",
        label: "flyio-token",
        literals: &["fo1_", "fm1a_", "fm1r_", "fm2_"],
        regex: r"\b((?:fo1_[A-Za-z0-9_-]{43}|fm[12][ar]?_[A-Za-z0-9+/=_-]{100,}))",
        back: 1,
        fwd: 800,
        high_confidence: true,
        check: None,
        examples: &["FLY_API_TOKEN=«fo1_R2fan6BJAQl9uDTU05y-eFr0lojKUr3pLC8dweEWpUO»", "FLY_API_TOKEN=\"FlyV1 «fm2_KQ44UI_yXcydsqdoBJ7gmULBQ-7S1zBfb-sqeOXkWErmRLt43YdNQs4zxihaBivERTtDtLqDNdPg7FXPkqfQgpnqduubCRxODOmtRuH_Xb45aL02UoebEhaO»\""],
        keeps: &["fo1_short"],
    },
    RuleSpec {
        id: "docker-pat",
        label: "docker-token",
        literals: &["dckr_pat_"],
        regex: r"\b(dckr_pat_[A-Za-z0-9_-]{27,})",
        back: 1,
        fwd: 60,
        high_confidence: true,
        check: None,
        examples: &["DOCKERHUB_TOKEN=«dckr_pat_gsz10AoEMroFiOCmTN_jS70n4e_»"],
        keeps: &["dckr_pat_short"],
    },
    RuleSpec {
        id: "sourcegraph-token",
        label: "sourcegraph-token",
        literals: &["sgp_"],
        regex: r"\b(sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40})\b",
        back: 1,
        fwd: 70,
        high_confidence: true,
        check: None,
        examples: &["SRC_ACCESS_TOKEN=«sgp_2baf78d26c9730b2_662a81f9ee872172dcce4bbf5b4d287659214f3d»"],
        keeps: &["sgp_6620bb96ceaa4d00e7b3"],
    },
    RuleSpec {
        id: "tavily-key",
        label: "tavily-key",
        literals: &["tvly-"],
        regex: r"\b(tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["TAVILY_API_KEY=«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»"],
        keeps: &["tvly-short"],
    },
    RuleSpec {
        id: "easypost-key",
        label: "easypost-key",
        literals: &["ezak", "eztk"],
        regex: r"\b(EZ[AT]K[a-zA-Z0-9]{54})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        check: None,
        examples: &["EASYPOST_API_KEY=«EZAKiEHocuutaaLnJ0qzEx1aWgA4xkI8fAXXLJoxyxk88z1nIYSlpAegCN»"],
        keeps: &["EZAKPL6jbV0GOV"],
    },
    RuleSpec {
        id: "onepassword-sa-token",
        label: "1password-token",
        literals: &["ops_eyj"],
        regex: r"\b(ops_eyJ[A-Za-z0-9+/=_-]{250,})",
        back: 1,
        fwd: 2000,
        high_confidence: true,
        check: None,
        examples: &["OP_SERVICE_ACCOUNT_TOKEN=«ops_eyJm7q5zB1IHMiJsAymQWgiB7D5sdabz5pgsFrewejGxlKFxq66H40DIw2uidmHbI02sx0uMHb2QJW6kkGY6h-p6hVmwKzGqPgLtJxbOiFF9pGweedNdtDiH9r4yHx3hx9UziI-mb7xj_8-1TCXH9OEV5L-hI9YzSLAyRKL1x2GzEQ7DvP7Y36zGPwJWkeznSmV4SbGcow8Ew7Xov4yoQfExGmtp8ju5gTnyK7F0ZHuI3hmZoOpiKNeun8N9Fp0u_Wrfan8I8kUd0kqZjlRw4GDpNbzPrNv4RkTXQbNEmb9r7dX»"],
        keeps: &["ops_eyJatijiDgaF5WJxZmtzr3D"],
    },
    RuleSpec {
        id: "sidekiq-credentials",
        label: "sidekiq-token",
        literals: &["__contribsys__com"],
        regex: r#"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM['"]?\s*[:=]\s*['"]?([a-f0-9]{8}:[a-f0-9]{8})\b"#,
        back: 20,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["BUNDLE_GEMS__CONTRIBSYS__COM: \"«ef2005ee:b2e61e1b»\""],
        keeps: &["BUNDLE_GEMS__CONTRIBSYS__COM: \"${SIDEKIQ_CREDS}\""],
    },
    RuleSpec {
        id: "square-token",
        label: "square-token",
        literals: &["sq0idp-", "sq0idk-", "sq0atp-", "sq0csp-", "eaaa"],
        regex: r"\b((?:sq0(?:idp|idk|atp|csp)-[A-Za-z0-9_-]{22,60})|EAAA[A-Za-z0-9+=_-]{60})",
        back: 1,
        fwd: 70,
        high_confidence: true,
        check: None,
        examples: &["SQUARE_ACCESS_TOKEN=«EAAAJ7QmCPoGZAbrx8ae7FtwgtZmT9tmQHcAOkv8W5fFXQgyENlcBwXHrBFeoHDl»", "«sq0atp-iaNBQ5jPqgrXmScKaS4Hfc»"],
        keeps: &["sq0atp-short"],
    },
    RuleSpec {
        id: "intra42-secret",
        label: "intra42-secret",
        literals: &["s-s4t2"],
        regex: r"\b(s-s4t2(?:ud|af)-[a-f0-9]{64})\b",
        back: 1,
        fwd: 80,
        high_confidence: true,
        check: None,
        examples: &["FT_SECRET=«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»"],
        keeps: &["s-s4t2ud-b3522f61ce"],
    },
    RuleSpec {
        id: "msteams-webhook",
        label: "teams-webhook",
        literals: &["/webhookb2/", "outlook.office.com/webhook/"],
        regex: r"(https://[A-Za-z0-9.-]*(?:outlook\.office\.com/webhook|webhook\.office\.com/webhookb2)/[A-Za-z0-9@/_-]{40,})",
        back: 80,
        fwd: 300,
        high_confidence: true,
        check: None,
        examples: &["«https://contoso.webhook.office.com/webhookb2/54b212ac-3a10-4451-253d-596eae155677@d794a275-27f9-fded-49bc-7e0f644c8261/IncomingWebhook/b1998b7e4717e5753af814ea804d8954/baf31653-d295-cebb-ff69-e9aac33c04c2»"],
        keeps: &["https://outlook.office.com/webhook/short"],
    },
    RuleSpec {
        id: "twitch-stream-key",
        label: "twitch-key",
        literals: &["live_"],
        regex: r"\b(live_\d{6,12}_[A-Za-z0-9]{30})\b",
        back: 1,
        fwd: 60,
        high_confidence: true,
        check: None,
        examples: &["stream key: «live_678063415_YJGSVl46CRosAt21AoqlgJjYiRzbt6»"],
        keeps: &["live_stream_key"],
    },
    RuleSpec {
        id: "dependency-track-key",
        label: "dtrack-key",
        literals: &["odt_"],
        regex: r"\b(odt_[A-Za-z0-9]{32,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["DTRACK_API_KEY=«odt_iQgPl96p9flAzW8mf6rzfYZCpzwYxTtZ»"],
        keeps: &["odt_short"],
    },
    RuleSpec {
        id: "notion-token",
        label: "notion-token",
        literals: &["secret_", "ntn_"],
        regex: r"\b((?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35}))\b",
        back: 1,
        fwd: 56,
        high_confidence: false,
        check: None,
        examples: &["NOTION_TOKEN=«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»", "«secret_OLBnDOcv5jzblp5GaXQufsv1Zp5fUpSunKlGTR4QzQI»"],
        keeps: &["secret_sauce"],
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
        check: None,
        examples: &["VAULT_TOKEN=«hvs.9iUm9cdvorV9dJ2PkLQV_DqTQPtBR2aq-8GQF563FAz4-LRymn_p_mHUrrMxf391-pha0DWLYqRqOMeA0ChR0wuBuP»"],
        keeps: &["hvs.short"],
    },
    RuleSpec {
        id: "newrelic-key",
        label: "newrelic-key",
        literals: &["nrak-", "nraa-", "nriq-", "nrii-", "nrjs-"],
        regex: r"\b(NR(?:AK|AA|IQ|II|JS)-[A-Za-z0-9_-]{19,40})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["NEW_RELIC_API_KEY=«NRAK-H0MEXJOY48B45M6VQOEZXSDMIF6»"],
        keeps: &["NRAK-short"],
    },
    RuleSpec {
        id: "newrelic-license",
        label: "newrelic-key",
        literals: &["nral"],
        regex: r"\b([a-z0-9]{36}NRAL)\b",
        back: 37,
        fwd: 5,
        high_confidence: true,
        check: None,
        examples: &["license_key: «tsta2kfiyqxqzkc3mbi6m5nvgmz9k2iiudafNRAL»"],
        keeps: &["6y8xvizragNRAL"],
    },
    RuleSpec {
        id: "nuget-key",
        label: "nuget-key",
        literals: &["oy2"],
        regex: r"\b(oy2[a-z0-9]{43})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["NUGET_API_KEY=«oy2u6mfx35wtjcuc3a6rffrhay45y72h401fuya72dzchk»"],
        keeps: &["oy2jv24z1b8ue"],
    },
    RuleSpec {
        id: "salesforce-token",
        label: "salesforce-token",
        literals: &["00d"],
        regex: r"\b(00D[A-Za-z0-9]{12}![A-Za-z0-9._]{60,120})",
        back: 1,
        fwd: 140,
        high_confidence: true,
        check: None,
        examples: &["SF_ACCESS_TOKEN=«00DzKxUN1lFQASY!E5NfMb_Lt2DR8uwVgAi1ga1GqGczYdOFwHqWAKxkyCKvXI_8TxZQ3PFIF9SQm0hC94Ulgq3XC3gPRi6E»"],
        keeps: &["00Doq33UxxY8c2h!short"],
    },
    RuleSpec {
        id: "facebook-token",
        label: "facebook-token",
        literals: &["eaac", "eaam", "eaag", "eaab"],
        regex: r"\b(EAA[A-Za-z0-9]{100,400})",
        back: 1,
        fwd: 410,
        high_confidence: true,
        check: None,
        examples: &["fb_access_token=«EAABwF6sD9HOwXlmnwI5T0VHXErsRccQF6Hyit41X2xLy9tpz6tIgJzIJlOuyOcxHgVhofgI1f4DDQrWULjxAe3doGxBIxVNny5sC2T3TFHpW9wSpQVqqIyq34187J9h1SDqztnPT8XdjlFUhiusNGAdSC»"],
        keeps: &["EAABas9RwFyzjtUgqGO6sXbQ"],
    },
    RuleSpec {
        id: "facebook-app-token",
        label: "facebook-token",
        literals: &["|"],
        regex: r"\b(\d{15,16}\|[A-Za-z0-9_-]{27})\b",
        back: 17,
        fwd: 30,
        high_confidence: true,
        check: None,
        examples: &["access_token=«517974086175921|G8j-04uTORJspFlBNwMRGu5jTU6»"],
        keeps: &["| 123 | 456 |"],
    },
    RuleSpec {
        id: "onepassword-secret-key",
        label: "1password-key",
        literals: &["a3-"],
        regex: r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        back: 1,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["«A3-UVOJQ1-23E2VEXN88F-7WNKI-B8AVE-49QF9»"],
        keeps: &["A3-short"],
    },
    RuleSpec {
        id: "authress-key",
        label: "authress-key",
        literals: &[".acc_", ".acc-"],
        regex: r"\b((?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120})",
        back: 50,
        fwd: 160,
        high_confidence: true,
        check: None,
        examples: &["AUTHRESS_KEY=«sc_kcl179lt6m.oqfz4.acc_6spqrfq4zlwtwyjj.irilt05fxjyiyhyx0d097oc6mp8s76k5eo9fjt7zy69ppt5yth»"],
        keeps: &["sc_abc.acc_"],
    },
    RuleSpec {
        id: "adobe-secret",
        label: "adobe-secret",
        literals: &["p8e-"],
        regex: r"\b(p8e-[a-zA-Z0-9]{32})\b",
        back: 1,
        fwd: 40,
        high_confidence: true,
        check: None,
        examples: &["ADOBE_CLIENT_SECRET=«p8e-G4PyT0SJIj3CdpIqhhqY5aDu5QoPgeXL»"],
        keeps: &["p8e-short"],
    },
    RuleSpec {
        id: "openshift-token",
        label: "openshift-token",
        literals: &["sha256~"],
        regex: r"(sha256~[A-Za-z0-9_-]{43})\b",
        back: 0,
        fwd: 52,
        high_confidence: true,
        check: None,
        examples: &["oc login --token=«sha256~nr6S2FP5UINPf97sr3ZAXqurfCkvYPZgylRnqFH_dpl» --server=https://api.ocp.internal:6443"],
        keeps: &["sha256~short"],
    },
    RuleSpec {
        id: "dynatrace-token",
        label: "dynatrace-token",
        literals: &["dt0c01."],
        regex: r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        back: 1,
        fwd: 100,
        high_confidence: true,
        check: None,
        examples: &["DT_API_TOKEN=«dt0c01.4REPCXUY5QI4AO94YDMA5IJG.0PQL9VN6ZQIJKOXHEIGND2P9PWHN19OHHXFAYCTML0OWQQB2D70TIR7W2XOKXAIJ»"],
        keeps: &["dt0c01.short"],
    },
    RuleSpec {
        id: "adafruit-key",
        label: "adafruit-key",
        literals: &["aio_"],
        regex: r"\b(aio_[A-Za-z0-9]{28})\b",
        back: 1,
        fwd: 34,
        high_confidence: true,
        check: None,
        examples: &["ADAFRUIT_IO_KEY=«aio_lVgQerwdlQ770WuSld5plFQdyW7a»"],
        keeps: &["import aio_http"],
    },
    RuleSpec {
        id: "cratesio-token",
        label: "cratesio-token",
        literals: &["cio"],
        regex: r"\b(cio[a-zA-Z0-9]{32})\b",
        back: 1,
        fwd: 36,
        high_confidence: false,
        check: None,
        examples: &["CARGO_REGISTRY_TOKEN=«cioCqqAITQKEXSrbk630XY2RyxkVo0GocDX»"],
        keeps: &["ciooa5u70INx5"],
    },
    RuleSpec {
        id: "grafana-api-key",
        label: "grafana-token",
        literals: &["eyjrijoi"],
        regex: r"\b(eyJrIjoi[A-Za-z0-9]{40,100}={0,2})",
        back: 1,
        fwd: 110,
        high_confidence: true,
        check: None,
        examples: &["«eyJrIjoi1AbQhmM3f7BvyvmyulcwYLdf5qO56HftwVrMiOixEJg3jbNf4Xp7nyXPGM5a»"],
        keeps: &["eyJrIjoiEc6X8fyc2f"],
    },
    RuleSpec {
        id: "azure-devops-pat",
        label: "azure-token",
        literals: &["azdo"],
        regex: r"\b([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b",
        back: 77,
        fwd: 9,
        high_confidence: true,
        check: None,
        examples: &["«kKSvqXvYf2OyvQYoMxz3uvHJnOo1JwRCX8kZJUlBngCeNdLDH4bPXutvipl1JD4PFGtPIkzXWPuJAZDOFc3d»"],
        keeps: &["NhO9kw3xRUdEVDAoYxV9AZDOXuGT"],
    },
    RuleSpec {
        id: "netrc-entry",
        label: "netrc",
        literals: &["machine "],
        // The host has a dot (or is localhost), so prose ("machine learning login page password reset") is not
        // an entry.
        regex: r"(?m)(?:^|[\s`\x22'])(machine[ \t]+(?:[A-Za-z0-9-]+\.[A-Za-z0-9.-]+|localhost)\s+login[ \t]+\S+\s+password[ \t]+\S+)",
        back: 1,
        fwd: 400,
        high_confidence: false,
        check: None,
        examples: &["«machine api.heroku.com login ops@corp.test password 2aYwHrCMs3to»"],
        keeps: &[
            "machine api.heroku.com",
            "our machine learning login page password reset flow",
        ],
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
        check: None,
        examples: &["AUTH0_DOMAIN=«tenant-03.eu.auth0.com»"],
        keeps: &["a.auth0.com"],
    },
    RuleSpec {
        id: "codeclimate-reporter-id",
        label: "codeclimate-key",
        literals: &["reporter_id"],
        regex: r#"(?i)reporter_id['"]?\s*[:=]\s*['"]?([0-9a-f]{64})\b"#,
        back: 20,
        fwd: 90,
        high_confidence: false,
        check: None,
        examples: &["CC_TEST_REPORTER_ID=«abb43aa63c7d9039ef770118948517029b5722c7e62049cc58bfddc811be3470»"],
        keeps: &["reporter_id: 42"],
    },
    RuleSpec {
        id: "postmark-token",
        label: "postmark-token",
        literals: &["postmark"],
        regex: r#"(?i)postmark\w{0,20}['"]?\s*[:=,]\s*['"]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        check: None,
        examples: &["POSTMARK_API_TOKEN=\"«816c76f8-0be0-aba9-cf50-5e3349b650aa»\""],
        keeps: &["postmark_server: smtp.postmarkapp.com"],
    },
    RuleSpec {
        id: "sonarqube-token",
        label: "sonarqube-token",
        literals: &["sonar.login", "sonar.token"],
        regex: r#"(?i)sonar\.(?:login|token)['"]?\s*[:=,]\s*['"]?((?:squ_)?[0-9a-f]{40})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        check: None,
        examples: &["mvn sonar:sonar -Dsonar.token=«squ_6ca11f418b67ae162bd6ec1ebf5863b041b4071d»"],
        keeps: &["sonar.login=admin"],
    },
    RuleSpec {
        id: "sourcegraph-context",
        label: "sourcegraph-token",
        literals: &["sourcegraph"],
        regex: r#"(?i)sourcegraph[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([0-9a-fA-F]{40})\b"#,
        back: 0,
        fwd: 120,
        high_confidence: false,
        check: None,
        examples: &["SOURCEGRAPH_ACCESS_TOKEN=«d134cdbcf3ed6276ed60ca4ee46bca4e85015cd1»"],
        keeps: &["sourcegraph_url=https://sourcegraph.com"],
    },
    RuleSpec {
        id: "jfrog-context",
        label: "jfrog-token",
        literals: &["artifactory"],
        regex: r#"(?i)artifactory[\w.-]{0,30}['"]?\s*[:=,]\s*['"]?([A-Za-z0-9]{64,73})\b"#,
        back: 0,
        fwd: 140,
        high_confidence: false,
        check: None,
        examples: &["ARTIFACTORY_API_KEY=«GjOvv1MDUYHoINrlMSc7YV2sKVdhAiUwJjhcHkr81Bv9s5AAousJzqJ5rZfd2eHRBPZ024zcq»"],
        keeps: &["artifactory_url: https://repo.internal/artifactory"],
    },
    RuleSpec {
        id: "okta-token",
        label: "okta-token",
        literals: &["okta"],
        regex: r#"(?i)okta[^\n]{0,60}?(?:\n[^\n]{0,60}?)?['"=:\s](00[A-Za-z0-9_-]{40})\b"#,
        back: 0,
        fwd: 170,
        high_confidence: false,
        check: None,
        examples: &["OKTA_API_TOKEN=«00b9gbhJBtbnERVcvL3Usy__cUcjrXHwVXZj9gxDsK»"],
        keeps: &["okta_token=00short"],
    },
    RuleSpec {
        id: "twilio-key",
        label: "twilio-key",
        literals: &["twilio"],
        regex: r"(?i)twilio[\s\S]{0,80}?\b((?:SK|AC)[0-9a-fA-F]{32})\b",
        back: 0,
        fwd: 130,
        high_confidence: false,
        check: None,
        examples: &["TWILIO_API_KEY=«SK085c052b8063b65cd154b6889117586b»"],
        keeps: &["twilio account: ACME corp"],
    },
    RuleSpec {
        id: "thingsboard-token",
        label: "thingsboard-token",
        literals: &["thingsboard.cloud/api/v1/"],
        regex: r"thingsboard\.cloud/api/v1/([A-Za-z0-9]{20})\b",
        back: 0,
        fwd: 50,
        high_confidence: true,
        check: None,
        examples: &["https://thingsboard.cloud/api/v1/«QyC248sKsESm2k4CK29Z»/telemetry"],
        keeps: &["https://thingsboard.cloud/api/v1/short/telemetry"],
    },
    RuleSpec {
        id: "truenas-api-key",
        label: "truenas-key",
        literals: &["login_with_api_key"],
        regex: r"(?i)login_with_api_key[\s\S]{0,60}?\b(\d+-[A-Za-z0-9]{64})\b",
        back: 0,
        fwd: 170,
        high_confidence: true,
        check: None,
        examples: &["{\"method\":\"auth.login_with_api_key\",\"params\":[\"«7-5ytH6lm94lwUimxDTBI4vtWPHncL1dLC4rYtALNmL1L5jwDUJ7hWEicakvoXOA7F»\"]}"],
        keeps: &["{\"method\":\"auth.login_with_api_key\",\"params\":[]}"],
    },
    RuleSpec {
        id: "vault-unseal-key",
        label: "vault-key",
        literals: &["unseal"],
        regex: r"(?i)\bunseal(?:\s+key\s+\d+:|\s+)\s*([A-Za-z0-9+/]{43,44}={0,2})",
        back: 0,
        fwd: 80,
        high_confidence: false,
        check: None,
        examples: &["Unseal Key 1: «9a0Kutn5J0wJuSE6rFhv6XNEdaWLhvbBE0zSWTQ9k3tk»"],
        keeps: &["vault operator unseal -migrate"],
    },
    RuleSpec {
        id: "jenkins-crumb",
        label: "jenkins-token",
        literals: &["jenkins-crumb"],
        regex: r#"(?i)jenkins-crumb['"]?\s*[:=]\s*([0-9a-f]{32,64})\b"#,
        back: 0,
        fwd: 90,
        high_confidence: false,
        check: None,
        examples: &["Jenkins-Crumb: «ed6f0428eece128da0e4c955f4878d46»"],
        keeps: &["Jenkins-Crumb: missing"],
    },
    RuleSpec {
        id: "jenkins-initial-password",
        label: "password",
        literals: &["password to proceed to installation"],
        regex: r"(?i)password to proceed to installation:\s*([0-9a-f]{32})\b",
        back: 0,
        fwd: 80,
        high_confidence: true,
        check: None,
        examples: &["Please use the following password to proceed to installation: «37d13efd066d9431c20cdf5d84cad6d8»"],
        keeps: &["password to proceed to installation: (see the log)"],
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
        check: None,
        examples: &["var c = new NetworkCredential(\"«svc-build»\", \"«c6H1Fz7utUMi»\");"],
        keeps: &["var c = new NetworkCredential(user, password);"],
    },
    RuleSpec {
        id: "directory-entry",
        label: "credentials",
        literals: &["directoryentry("],
        regex: r#"(?i)DirectoryEntry\(\s*"([^"\n]{1,256})"\s*,\s*"([^"\n]{1,128})"\s*,\s*"([^"\n]{1,256})""#,
        back: 0,
        fwd: 700,
        high_confidence: false,
        check: None,
        examples: &["new DirectoryEntry(\"«LDAP://dc01.corp.test/DC=corp,DC=test»\", \"«svc-ldap»\", \"«324Ds8d6To»\")"],
        keeps: &["new DirectoryEntry(path)"],
    },
    RuleSpec {
        id: "password-in-prose",
        label: "credentials",
        literals: &["password is", "password for"],
        regex: r#"(?i)\bpassword\s+(?:for\s+(?:the\s+)?user\s+['"]([^'"\n]{1,64})['"]\s+)?is\s+['"]([^'"\n]{1,128})['"]"#,
        back: 0,
        fwd: 240,
        high_confidence: false,
        check: None,
        examples: &["The password is \"«l2ok34b4hG»\".", "The password for the user \"«ops»\" is \"«LHEq0s3FBW»\"."],
        keeps: &["the password is stored in the vault"],
    },
    RuleSpec {
        id: "google-client-id",
        label: "google-client-id",
        literals: &[".apps.googleusercontent.com"],
        regex: r"\b(\d{10,14}-[a-z0-9]{32}\.apps\.googleusercontent\.com)",
        back: 48,
        fwd: 30,
        high_confidence: false,
        check: None,
        examples: &["GOOGLE_CLIENT_ID=«764607347599-0tdao4yrkaugwoh375eslhmu6tuthk9v.apps.googleusercontent.com»"],
        keeps: &["apps.googleusercontent.com"],
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
/// `basic-auth`'s check: the token is base64 of `user:password`, so "basic authentication" in prose is not a
/// credential.
fn basic_credentials(value: &[u8]) -> bool {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    use base64::{alphabet, Engine};
    const ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ANY_PADDING.decode(value).is_ok_and(|d| d.contains(&b':'))
}

/// character, `EXAMPLE`, `xxxx`, `****`, `<...>`, `${...}`.
pub(crate) fn is_placeholder_value(v: &[u8]) -> bool {
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
pub(crate) fn is_doc_placeholder(v: &[u8]) -> bool {
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
