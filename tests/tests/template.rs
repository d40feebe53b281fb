//! Security and production checks on `template.yaml`, read as data (no stack needed):
//! least-privilege IAM, private encrypted TLS-only buckets, exactly two public routes,
//! no secret in any function's environment, and the durability settings the issue asks for.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::{Mapping, Value};

struct Template {
    root: Value,
}

impl Template {
    fn load() -> Template {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml is readable");
        Template {
            root: serde_norway::from_str(&text).expect("template.yaml is valid YAML"),
        }
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root["Resources"]
            .as_mapping()
            .expect("Resources")
            .iter()
            .map(|(k, v)| (k.as_str().expect("logical id"), v))
    }

    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"].as_str() == Some(ty))
    }

    fn resource(&self, id: &str) -> &Value {
        &self.root["Resources"][id]
    }

    fn no_echo_parameters(&self) -> BTreeSet<String> {
        self.root["Parameters"]
            .as_mapping()
            .expect("Parameters")
            .iter()
            .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
            .map(|(k, _)| k.as_str().expect("parameter name").to_owned())
            .collect()
    }
}

/// `(tag, value)` of a CloudFormation intrinsic written with a short-form tag (`!Ref X`).
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
        _ => None,
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Every IAM statement the template grants, with the role that holds it. Each function has
/// its own role, written in the template (no SAM-generated role, no managed policy), so
/// every grant is visible here.
fn allow_statements(t: &Template) -> Vec<(String, &Value)> {
    let mut roles = BTreeSet::new();
    for (id, f) in t.of_type("AWS::Serverless::Function") {
        let p = &f["Properties"];
        assert!(
            p["Policies"].is_null(),
            "{id}: grants belong in its role, not in SAM Policies"
        );
        let role = intrinsic(&p["Role"])
            .and_then(|(tag, v)| (tag == "GetAtt").then(|| v.as_str().map(str::to_owned)).flatten());
        let role = role.unwrap_or_else(|| panic!("{id}: Role must be !GetAtt <its role>.Arn"));
        let role = role.trim_end_matches(".Arn").to_owned();
        assert_eq!(t.resource(&role)["Type"].as_str(), Some("AWS::IAM::Role"), "{id}");
        assert!(roles.insert(role.clone()), "{id}: shares {role} with another function");
    }
    let mut out = Vec::new();
    for (id, r) in t.of_type("AWS::IAM::Role") {
        assert!(roles.contains(id), "{id} is not a function's role");
        let p = &r["Properties"];
        assert!(
            p["ManagedPolicyArns"].is_null(),
            "{id}: managed policies grant more than this function uses"
        );
        let assume = &p["AssumeRolePolicyDocument"]["Statement"];
        assert_eq!(as_list(assume).len(), 1, "{id}");
        assert_eq!(
            assume[0]["Principal"]["Service"].as_str(),
            Some("lambda.amazonaws.com"),
            "{id}: only Lambda assumes it"
        );
        for policy in as_list(&p["Policies"]) {
            for s in as_list(&policy["PolicyDocument"]["Statement"]) {
                for s in branches(s) {
                    out.push((id.to_owned(), s));
                }
            }
        }
    }
    for ty in [
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::User",
        "AWS::IAM::Group",
    ] {
        let found: Vec<_> = t.of_type(ty).map(|(id, _)| id).collect();
        assert!(found.is_empty(), "{found:?}: grants belong in the functions' roles");
    }
    out.into_iter()
        .filter(|(_, s)| s["Effect"].as_str() == Some("Allow"))
        .collect()
}

/// A statement, or both branches of one chosen by a condition (`!If [Cond, a, b]`): a grant
/// that exists with either provider is checked as if it always did. `AWS::NoValue` is none.
fn branches(v: &Value) -> Vec<&Value> {
    match intrinsic(v) {
        Some((tag, inner)) if tag == "If" => as_list(inner)
            .into_iter()
            .skip(1)
            .filter(|b| !matches!(intrinsic(b), Some((t, v)) if t == "Ref" && v.as_str() == Some("AWS::NoValue")))
            .collect(),
        _ => vec![v],
    }
}

/// Grants on what AWS owns rather than this stack, each as narrow as the service allows:
/// Transcribe jobs named by this stack (their names start with it), the chosen vocabulary,
/// and the chosen model's inference profile and its foundation model (in any region the
/// profile routes to).
const PINNED_ARNS: [&str; 4] = [
    "arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:transcription-job/${AWS::StackName}-*",
    "arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:vocabulary/${TranscribeVocabularyName}",
    "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/${BedrockModelId}",
    "arn:${AWS::Partition}:bedrock:*::foundation-model/${Model}",
];

/// Whether an IAM resource is pinned to something this stack owns: `!Ref`/`!GetAtt` of a
/// resource, or `!Sub` of an ARN built from one (an object prefix under it is allowed).
fn narrow_resource(t: &Template, v: &Value) -> Result<(), String> {
    match intrinsic(v) {
        Some((tag, inner)) if tag == "Ref" || tag == "GetAtt" => {
            let target = inner.as_str().unwrap_or_default().split('.').next().unwrap_or_default();
            if t.resource(target).is_null() {
                return Err(format!("{tag} {target} is not a resource of this stack"));
            }
            Ok(())
        }
        Some((tag, inner)) if tag == "Sub" => {
            // `!Sub [string, {vars}]`: the string is what is checked.
            let s = inner
                .as_str()
                .or_else(|| as_list(inner).first().and_then(|v| v.as_str()))
                .ok_or("Sub without a string")?;
            if PINNED_ARNS.contains(&s) {
                return Ok(());
            }
            let Some(rest) = s.strip_prefix("${") else {
                return Err(format!("{s:?} does not start at a stack resource"));
            };
            let (var, path) = rest.split_once('}').ok_or("unterminated ${")?;
            let target = var.split('.').next().unwrap_or_default();
            if t.resource(target).is_null() {
                return Err(format!("{s:?}: {target} is not a resource of this stack"));
            }
            // "${Bucket.Arn}/meetings/*" is a key prefix inside our bucket, and
            // "/meetings/*/transcripts/*" the same folder of every meeting: fine. A wildcard
            // anywhere else (in the bucket's name, a whole segment of a path that names no
            // folder) would widen the grant beyond the named resource.
            let segments: Vec<&str> = path.split('/').collect();
            let named = segments.iter().filter(|seg| !seg.is_empty() && **seg != "*").count();
            let only_whole_segments = segments.iter().all(|seg| *seg == "*" || !seg.contains('*'));
            match path.find('*') {
                None => Ok(()),
                Some(_) if path.starts_with('/') && only_whole_segments && named >= 1 => Ok(()),
                Some(_) => Err(format!("{s:?} has a wildcard beyond an object key prefix")),
            }
        }
        _ => Err(format!(
            "{v:?} is a literal, not a reference to a resource of this stack"
        )),
    }
}

#[test]
fn every_iam_grant_names_its_actions_and_resources() {
    let t = Template::load();
    let statements = allow_statements(&t);
    assert!(
        statements.len() >= 20,
        "expected every function's statements, found {}",
        statements.len()
    );
    // Logs only to the function's own group.
    for (id, s) in &statements {
        if as_list(&s["Action"])
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.starts_with("logs:")))
        {
            let group = intrinsic(&s["Resource"])
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            assert_eq!(group, format!("{}LogGroup.Arn", id.trim_end_matches("Role")), "{id}");
        }
    }
    let mut problems = Vec::new();
    for (id, s) in &statements {
        for action in as_list(&s["Action"]) {
            let a = action.as_str().unwrap_or_default();
            if a.is_empty() || a.contains('*') {
                problems.push(format!("{id}: action {action:?} is a wildcard or not a plain string"));
            }
        }
        if s.get("NotAction").is_some() || s.get("NotResource").is_some() {
            problems.push(format!("{id}: NotAction/NotResource grant everything else"));
        }
        for resource in as_list(&s["Resource"]) {
            if let Err(why) = narrow_resource(&t, resource) {
                problems.push(format!("{id}: {why}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "IAM grants wider than needed:\n{}",
        problems.join("\n")
    );
}

#[test]
fn functions_invoke_only_the_function_they_hand_work_to() {
    let t = Template::load();
    let mut invokes = BTreeMap::new();
    for (id, s) in allow_statements(&t) {
        if as_list(&s["Action"])
            .iter()
            .any(|a| a.as_str() == Some("lambda:InvokeFunction"))
        {
            let targets: Vec<String> = as_list(&s["Resource"])
                .iter()
                .map(|r| {
                    intrinsic(r)
                        .map(|(_, v)| v.as_str().unwrap_or_default().to_owned())
                        .unwrap_or_default()
                })
                .collect();
            invokes.insert(id, targets);
        }
    }
    let expected = BTreeMap::from([
        // The reconciler's healer starts a producer that never started.
        ("NotifierRole".to_owned(), vec!["ProducerFunction.Arn".to_owned()]),
        ("SymblWebhookRole".to_owned(), vec!["NotifierFunction.Arn".to_owned()]),
        ("ZoomWebhookRole".to_owned(), vec!["ProducerFunction.Arn".to_owned()]),
    ]);
    assert_eq!(invokes, expected);
}

#[test]
fn buckets_are_private_encrypted_tls_only_and_expire() {
    let t = Template::load();
    let buckets: Vec<_> = t.of_type("AWS::S3::Bucket").collect();
    assert_eq!(buckets.len(), 2, "the input and output buckets");
    for (id, b) in buckets {
        let p = &b["Properties"];
        let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
        assert!(
            matches!(sse["SSEAlgorithm"].as_str(), Some("AES256" | "aws:kms")),
            "{id}: not encrypted"
        );
        for flag in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(
                p["PublicAccessBlockConfiguration"][flag].as_bool(),
                Some(true),
                "{id}: {flag}"
            );
        }
        assert_eq!(
            p["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str(),
            Some("BucketOwnerEnforced"),
            "{id}: ACLs"
        );
        let rule = &p["LifecycleConfiguration"]["Rules"][0];
        assert_eq!(rule["Status"].as_str(), Some("Enabled"), "{id}: lifecycle");
        assert_eq!(
            intrinsic(&rule["ExpirationInDays"]).map(|(tag, v)| (tag, v.as_str().map(str::to_owned))),
            Some(("Ref".to_owned(), Some("RetentionDays".to_owned()))),
            "{id}: objects expire after RetentionDays"
        );

        // A bucket policy on this bucket that denies every request not made over TLS,
        // on the bucket and on its objects.
        let policy = t
            .of_type("AWS::S3::BucketPolicy")
            .map(|(_, p)| p)
            .find(|p| {
                intrinsic(&p["Properties"]["Bucket"])
                    .and_then(|(_, v)| v.as_str().map(str::to_owned))
                    .as_deref()
                    == Some(id)
            })
            .unwrap_or_else(|| panic!("{id}: no bucket policy"));
        let deny_plain = as_list(&policy["Properties"]["PolicyDocument"]["Statement"])
            .into_iter()
            .find(|s| {
                s["Effect"].as_str() == Some("Deny")
                    && s["Condition"]["Bool"]["aws:SecureTransport"]
                        .as_str()
                        .or(s["Condition"]["Bool"]["aws:SecureTransport"].as_bool().map(|b| {
                            if b {
                                "true"
                            } else {
                                "false"
                            }
                        }))
                        == Some("false")
            });
        let deny = deny_plain.unwrap_or_else(|| panic!("{id}: no Deny on aws:SecureTransport=false"));
        assert_eq!(
            deny["Principal"].as_str(),
            Some("*"),
            "{id}: the TLS rule must apply to everyone"
        );
        let resources: Vec<String> = as_list(&deny["Resource"])
            .iter()
            .filter_map(|r| intrinsic(r).and_then(|(_, v)| v.as_str().map(str::to_owned)))
            .collect();
        assert!(
            resources.contains(&format!("{id}.Arn")),
            "{id}: TLS rule must cover the bucket"
        );
        assert!(
            resources.contains(&format!("${{{id}.Arn}}/*")),
            "{id}: TLS rule must cover its objects"
        );
        // Nothing in any bucket policy allows access: only denials.
        for s in as_list(&policy["Properties"]["PolicyDocument"]["Statement"]) {
            assert_eq!(s["Effect"].as_str(), Some("Deny"), "{id}: bucket policies only deny");
        }
    }
}

#[test]
fn only_the_two_webhooks_and_the_meeting_page_are_public() {
    let t = Template::load();
    let mut routes = BTreeSet::new();
    for (id, f) in t.of_type("AWS::Serverless::Function") {
        assert!(
            f["Properties"]["FunctionUrlConfig"].is_null(),
            "{id}: function URLs are public entry points"
        );
        for (_, e) in f["Properties"]["Events"]
            .as_mapping()
            .map(Mapping::iter)
            .into_iter()
            .flatten()
        {
            match e["Type"].as_str() {
                Some("Api") => {
                    let p = &e["Properties"];
                    // The webhooks on WebhookApi, the meeting page on its own PageApi.
                    let api = if id == "MeetingPageFunction" {
                        "PageApi"
                    } else {
                        "WebhookApi"
                    };
                    assert_eq!(
                        intrinsic(&p["RestApiId"]).map(|(_, v)| v.as_str().map(str::to_owned)),
                        Some(Some(api.into())),
                        "{id}"
                    );
                    routes.insert((
                        id.to_owned(),
                        p["Method"].as_str().unwrap_or_default().to_lowercase(),
                        p["Path"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
                Some("HttpApi") => panic!("{id}: an HTTP API route outside WebhookApi"),
                // EventBridge rules are not entry points anyone outside AWS can call.
                Some("SQS" | "Schedule" | "ScheduleV2" | "EventBridgeRule") => {}
                other => panic!("{id}: unexpected event source {other:?}"),
            }
        }
    }
    let expected = BTreeSet::from([
        // The meeting page: reads only, behind its signed link.
        (
            "MeetingPageFunction".to_owned(),
            "get".to_owned(),
            "/meetings/{meeting_key}".to_owned(),
        ),
        (
            "MeetingPageFunction".to_owned(),
            "head".to_owned(),
            "/meetings/{meeting_key}".to_owned(),
        ),
        (
            "SymblWebhookFunction".to_owned(),
            "post".to_owned(),
            "/symbl/webhook".to_owned(),
        ),
        (
            "ZoomWebhookFunction".to_owned(),
            "post".to_owned(),
            "/zoom/webhook".to_owned(),
        ),
    ]);
    assert_eq!(routes, expected);
    let apis: Vec<_> = t
        .resources()
        .filter(|(_, r)| {
            matches!(
                r["Type"].as_str(),
                Some(
                    "AWS::Serverless::Api"
                        | "AWS::Serverless::HttpApi"
                        | "AWS::ApiGateway::RestApi"
                        | "AWS::ApiGatewayV2::Api"
                )
            )
        })
        .collect();
    let mut names: Vec<&str> = apis.iter().map(|(id, _)| *id).collect();
    names.sort_unstable();
    assert_eq!(names, ["PageApi", "WebhookApi"], "the webhooks' API and the page's");
    for (id, api) in &apis {
        assert!(
            api["Properties"]["DefinitionBody"].is_null() && api["Properties"]["DefinitionUri"].is_null(),
            "{id}: routes come only from the functions' events"
        );
    }
    assert!(
        t.of_type("AWS::Lambda::Permission").next().is_none(),
        "no hand-written invoke permissions"
    );
    assert!(t.of_type("AWS::Lambda::Url").next().is_none(), "no function URLs");
}

#[test]
fn no_secret_reaches_a_function_environment() {
    let t = Template::load();
    let secret_params = t.no_echo_parameters();
    assert!(
        secret_params.len() >= 6,
        "the secret parameters are NoEcho: {secret_params:?}"
    );
    fn mentions(v: &Value, names: &BTreeSet<String>) -> Option<String> {
        match v {
            Value::String(s) => names.iter().find(|n| s.contains(&format!("${{{n}}}"))).cloned(),
            Value::Tagged(tv) => {
                if let Some(s) = tv.value.as_str() {
                    if names.contains(s) {
                        return Some(s.to_owned());
                    }
                }
                mentions(&tv.value, names)
            }
            Value::Sequence(s) => s.iter().find_map(|v| mentions(v, names)),
            Value::Mapping(m) => m.iter().find_map(|(_, v)| mentions(v, names)),
            _ => None,
        }
    }
    let mut users = BTreeSet::new();
    for (id, r) in t.resources() {
        if let Some(p) = mentions(r, &secret_params) {
            users.insert((id.to_owned(), p));
        }
    }
    // Only the secrets hold them, each its own concern.
    let holders: BTreeSet<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        holders,
        BTreeSet::from([
            "ZoomWebhookSecret",
            "ZoomApiSecret",
            "SymblCredentialsSecret",
            "SmtpSecret"
        ]),
        "secret parameters used outside Secrets Manager: {users:?}"
    );
    for secret in holders.iter().chain(&["SymblWebhookTokenSecret", "PageLinkSecret"]) {
        assert_eq!(
            t.resource(secret)["Type"].as_str(),
            Some("AWS::SecretsManager::Secret"),
            "{secret}"
        );
    }
}

/// Every `!Ref` inside a value.
fn refs(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Tagged(tv) if tv.tag == "!Ref" => tv.value.as_str().map(str::to_owned).into_iter().collect(),
        Value::Tagged(tv) => refs(&tv.value),
        Value::Sequence(s) => s.iter().flat_map(refs).collect(),
        Value::Mapping(m) => m.iter().flat_map(|(_, v)| refs(v)).collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn each_function_reads_only_the_secrets_it_uses() {
    let t = Template::load();
    let expected = |function: &str| -> BTreeSet<String> {
        let names: &[&str] = match function {
            // The two public webhooks never hold SMTP or provider credentials.
            "ZoomWebhookFunction" => &["ZoomWebhookSecret"],
            "SymblWebhookFunction" => &["SymblWebhookTokenSecret"],
            "ProducerFunction" => &["ZoomApiSecret"],
            "ConsumerFunction" => &["SymblCredentialsSecret", "SymblWebhookTokenSecret"],
            "NotifierFunction" => &["SymblCredentialsSecret", "SmtpSecret", "PageLinkSecret"],
            // The page reads the link key and nothing else.
            "MeetingPageFunction" => &["PageLinkSecret"],
            other => panic!("unexpected function {other}"),
        };
        names.iter().map(|n| (*n).to_owned()).collect()
    };
    let grants = allow_statements(&t);
    for (id, f) in t.of_type("AWS::Serverless::Function") {
        let vars = &f["Properties"]["Environment"]["Variables"];
        assert_eq!(refs(&vars["SECRET_ARNS"]), expected(id), "{id}: SECRET_ARNS");
        let role = intrinsic(&f["Properties"]["Role"])
            .and_then(|(_, v)| v.as_str())
            .map(|r| r.trim_end_matches(".Arn").to_owned())
            .unwrap_or_default();
        let readable: BTreeSet<String> = grants
            .iter()
            .filter(|(r, s)| {
                *r == role
                    && as_list(&s["Action"])
                        .iter()
                        .any(|a| a.as_str() == Some("secretsmanager:GetSecretValue"))
            })
            .flat_map(|(_, s)| refs(&s["Resource"]))
            .collect();
        assert_eq!(readable, expected(id), "{id}: the secrets its role may read");
    }
}

#[test]
fn functions_are_rust_on_al2023_with_json_logs() {
    let t = Template::load();
    let globals = &t.root["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let functions: Vec<_> = t.of_type("AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), 6);
    for (id, f) in functions {
        assert_eq!(f["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{id}");
        assert!(
            f["Properties"]["Runtime"].is_null() || f["Properties"]["Runtime"].as_str() == Some("provided.al2023"),
            "{id}"
        );
        // Its own log group, which expires with LogRetentionDays and goes with the stack.
        let group =
            intrinsic(&f["Properties"]["LoggingConfig"]["LogGroup"]).and_then(|(_, v)| v.as_str().map(str::to_owned));
        let group = group.unwrap_or_else(|| panic!("{id}: no LoggingConfig.LogGroup"));
        let g = t.resource(&group);
        assert_eq!(g["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{id}");
        assert_eq!(
            intrinsic(&g["Properties"]["RetentionInDays"])
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
                .as_deref(),
            Some("LogRetentionDays"),
            "{id}: its logs expire"
        );
        let ffmpeg = &f["Properties"]["Layers"];
        if !ffmpeg.is_null() {
            for l in as_list(ffmpeg) {
                assert_eq!(
                    intrinsic(l).map(|(t, v)| (t, v.as_str().map(str::to_owned))),
                    Some(("Ref".into(), Some("FfmpegLayer".into()))),
                    "{id}: layers come from this stack"
                );
            }
        }
    }
}

#[test]
fn records_are_durable_and_expire_and_failures_land_somewhere() {
    let t = Template::load();
    for (id, table) in t.of_type("AWS::DynamoDB::Table") {
        let p = &table["Properties"];
        assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{id}");
        assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true), "{id}");
    }
    for id in ["MeetingsTable", "JobsTable"] {
        let p = &t.resource(id)["Properties"];
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id}: PITR"
        );
        assert_eq!(
            p["TimeToLiveSpecification"]["AttributeName"].as_str(),
            Some("expires_at"),
            "{id}: TTL"
        );
        assert_eq!(
            p["TimeToLiveSpecification"]["Enabled"].as_bool(),
            Some(true),
            "{id}: TTL"
        );
    }
    // The work queue has a dead-letter queue; async invocations have failure destinations.
    let redrive = &t.resource("WorkQueue")["Properties"]["RedrivePolicy"];
    assert!(!redrive.is_null(), "WorkQueue needs a dead-letter queue");
    for id in ["ProducerFunction", "NotifierFunction"] {
        let on_failure = &t.resource(id)["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(
            on_failure["Type"].as_str(),
            Some("SQS"),
            "{id}: async failures must be kept"
        );
    }
    // Every dead-letter and failure queue has an alarm on its depth.
    let queues: BTreeSet<String> = t
        .of_type("AWS::SQS::Queue")
        .map(|(id, _)| id.to_owned())
        .filter(|id| id != "WorkQueue")
        .collect();
    let alarmed: BTreeSet<String> = t
        .of_type("AWS::CloudWatch::Alarm")
        .flat_map(|(_, a)| {
            as_list(&a["Properties"]["Dimensions"])
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter_map(|d| {
            intrinsic(&d["Value"])
                .and_then(|(_, v)| v.as_str().map(|s| s.split('.').next().unwrap_or_default().to_owned()))
        })
        .collect();
    for q in &queues {
        assert!(alarmed.contains(q), "no alarm on {q}");
    }
    for (id, _) in t.of_type("AWS::Serverless::Function") {
        assert!(alarmed.contains(id), "no error alarm on {id}");
    }
}

fn env_number(t: &Template, function: &str, var: &str) -> i64 {
    let v = &t.resource(function)["Properties"]["Environment"]["Variables"][var];
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .unwrap_or_else(|| panic!("{function} has no numeric {var}: {v:?}"))
}

fn timeout_of(t: &Template, function: &str) -> i64 {
    t.resource(function)["Properties"]["Timeout"]
        .as_i64()
        .or_else(|| t.root["Globals"]["Function"]["Timeout"].as_i64())
        .expect("a timeout")
}

#[test]
fn the_producer_knows_how_many_attempts_lambda_makes() {
    let t = Template::load();
    let retries = t.resource("ProducerFunction")["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"]
        .as_i64()
        .expect("ProducerFunction's MaximumRetryAttempts");
    // The producer treats the last attempt's failure as final: it must know which one that is.
    assert_eq!(env_number(&t, "ProducerFunction", "MAX_ATTEMPTS"), 1 + retries);
}

#[test]
fn a_webhook_claim_outlives_the_webhook_that_made_it() {
    let t = Template::load();
    let lease = env_number(&t, "ZoomWebhookFunction", "CLAIM_LEASE_SECS");
    let timeout = timeout_of(&t, "ZoomWebhookFunction");
    // A live delivery must never be overtaken; a dead one soon after it died.
    assert!(
        lease > timeout,
        "claim lease {lease} s within the webhook's timeout {timeout} s"
    );
    assert!(
        lease <= 6 * timeout,
        "claim lease {lease} s keeps Zoom's redeliveries waiting too long"
    );
}

#[test]
fn aws_is_the_default_provider_and_symbl_exists_only_when_chosen() {
    let t = Template::load();
    let provider = &t.root["Parameters"]["InsightsProvider"];
    assert_eq!(provider["Default"].as_str(), Some("aws"));
    for symbl_only in [
        "SymblWebhookFunction",
        "SymblWebhookRole",
        "SymblWebhookLogGroup",
        "SymblWebhookFunctionErrorsAlarm",
        "SymblCredentialsSecret",
        "SymblWebhookTokenSecret",
    ] {
        assert_eq!(
            t.resource(symbl_only)["Condition"].as_str(),
            Some("UseSymbl"),
            "{symbl_only} exists only for the symbl provider"
        );
    }
    // Symbl's credentials are not asked for unless Symbl is chosen, and then they must be given.
    for p in ["SymblAppId", "SymblAppSecret"] {
        assert_eq!(t.root["Parameters"][p]["Default"].as_str(), Some(""), "{p}");
    }
    let rule = &t.root["Rules"]["SymblNeedsItsCredentials"];
    assert_eq!(as_list(&rule["Assertions"]).len(), 2);
    assert_eq!(
        t.resource("TranscriptionFailuresAlarm")["Condition"].as_str(),
        Some("UseAws")
    );
}

#[test]
fn the_notifier_hears_of_this_stacks_transcriptions_only() {
    let t = Template::load();
    let events = &t.resource("NotifierFunction")["Properties"]["Events"];
    for (name, status) in [
        ("TranscriptionCompleted", "COMPLETED"),
        ("TranscriptionFailed", "FAILED"),
    ] {
        let pattern = &events[name]["Properties"]["Pattern"];
        assert_eq!(pattern["source"][0].as_str(), Some("aws.transcribe"), "{name}");
        assert_eq!(pattern["detail"]["TranscriptionJobStatus"][0].as_str(), Some(status));
        let prefix = intrinsic(&pattern["detail"]["TranscriptionJobName"][0]["prefix"])
            .and_then(|(tag, v)| (tag == "Sub").then(|| v.as_str().map(str::to_owned)).flatten());
        // What `transcript::jobs::name_prefix` gives a stack's name.
        assert_eq!(prefix.as_deref(), Some("${AWS::StackName}-"), "{name}");
    }
    assert_eq!(
        zoom_symbl_core::transcript::jobs::name_prefix("zoom-symbl"),
        "zoom-symbl-",
        "the rule's prefix is the names' prefix"
    );
}
