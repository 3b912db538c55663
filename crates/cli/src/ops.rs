//! The operations that act on the deployed stack: reconcile from Stripe's state, and the dead-letter queue.
//! They run the entitlement processor's own use cases (`entitle_app::processor`: its `Deps`, `run`, `reconcile_user`) in this process,
//! so an operator's reconcile or redrive is exactly what the function would do.
use crate::Failed;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use entitle_app::processor::maintenance::reconcile_user;
use entitle_app::processor::run::run;
use entitle_app::processor::Deps;
use entitle_domain::ids::SubjectId;
use entitle_domain::queue::QueueMessage;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::Bound;

/// The environment variables the processor's code reads, and the stack output each comes from.
const FROM_OUTPUTS: &[(&str, &str)] = &[
    ("ENTITLEMENTS_TABLE", "EntitlementsTableName"),
    ("CUSTOMERS_TABLE", "CustomersTableName"),
    ("USAGE_TABLE", "UsageTableName"),
    ("BILLING_EVENTS_TOPIC_ARN", "BillingEventsTopicArn"),
    ("DEAD_LETTER_QUEUE_URL", "EntitlementDeadLetterQueueUrl"),
    ("ENTITLEMENT_QUEUE_URL", "EntitlementQueueUrl"),
];

/// The stack named by `--stack`, else the `stack_name` of samconfig.toml's chosen environment (`--config-env`,
/// default `default`).
fn stack_name(explicit: Option<&str>) -> Option<String> {
    if let Some(name) = explicit {
        return Some(name.to_owned());
    }
    crate::samconfig::read("stack_name")
}

/// Fills the variables the environment does not set from the stack's outputs. Explicit variables win, so
/// `scripts/with-local-aws.sh` (which sets them all) needs no stack at all.
async fn resolve(stack: Option<&str>) -> Result<(), Failed> {
    resolve_outputs(stack, FROM_OUTPUTS).await
}

/// Sets each variable of `pairs` that the environment does not set from the stack output it names.
pub(crate) async fn resolve_outputs(
    stack: Option<&str>,
    pairs: &[(&str, &str)],
) -> Result<(), Failed> {
    let missing: Vec<_> = pairs
        .iter()
        .filter(|(env, _)| std::env::var(env).map_or(true, |v| v.trim().is_empty()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let Some(name) = stack_name(stack) else {
        return Err(Failed(format!(
            "set {} or name the deployed stack with --stack",
            missing
                .iter()
                .map(|(env, _)| *env)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    eprintln!("reading the outputs of stack {name}…");
    let aws = entitle_core::config::aws().await;
    let out = aws_sdk_cloudformation::Client::new(&aws)
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .map_err(|e| {
            let reason = match e {
                // No credentials, no region, or AWS unreachable: the SDK's own text is a page of Debug.
                aws_sdk_cloudformation::error::SdkError::DispatchFailure(_)
                | aws_sdk_cloudformation::error::SdkError::TimeoutError(_) => {
                    "AWS could not be reached with this environment's credentials and region \
                     (set AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, and AWS_REGION), \
                     or set the variables the functions read (see Configuration in the README)"
                        .to_owned()
                }
                other => entitle_core::adapters::sdk_error(other).to_string(),
            };
            Failed(format!("reading stack {name} failed: {reason}"))
        })?;
    let outputs = out
        .stacks()
        .first()
        .map(|s| s.outputs().to_vec())
        .unwrap_or_default();
    for (env, output) in missing {
        let value = outputs
            .iter()
            .find(|o| o.output_key() == Some(*output))
            .and_then(|o| o.output_value())
            .ok_or_else(|| Failed(format!("stack {name} has no output {output} (for {env})")))?;
        // Single-threaded here: nothing else reads the environment yet.
        std::env::set_var(env, value);
    }
    Ok(())
}

async fn deps(stack: Option<&str>) -> Result<Deps, Failed> {
    resolve(stack).await?;
    Deps::from_env().await.map_err(Failed::from)
}

/// Stripe from `STRIPE_SECRET_KEY` (or `_ARN`) and `STRIPE_API_BASE`, as the functions read them.
pub async fn stripe_client(
    aws: &aws_config::SdkConfig,
) -> Result<entitle_core::stripe::StripeClient, Failed> {
    Ok(entitle_core::stripe::StripeClient::new(
        entitle_core::config::secret("STRIPE_SECRET_KEY", aws).await?,
        entitle_core::config::optional("STRIPE_API_BASE")
            .unwrap_or_else(|| "https://api.stripe.com".into()),
    ))
}

/// `entitle reconcile USER_ID | --all [--after USER_ID]`.
/// `entitle reconcile --all --fan-out`: the first page of the walk, queued for the deployed processor
/// (`{"reconcile": "all"}` does the same); the processor queues each next page itself.
pub async fn reconcile_fan_out(
    stack: Option<&str>,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let deps = deps(stack).await?;
    let now = UnixTime::now();
    let run = now.secs().to_string();
    let page = entitle_app::processor::maintenance::fan_out(&deps, &run, None, 0, now)
        .await
        .map_err(|e| Failed(e.chain()))?;
    if json {
        println!("{}", serde_json::to_value(&page).expect("plain data"));
    } else {
        println!(
            "run {run}: queued {} users{}",
            page.queued,
            if page.done {
                " (all of them)"
            } else {
                " and the next page; the processor walks the rest of the table through its queue"
            }
        );
        eprintln!("progress: the processor logs \"reconcile fan-out: queued a page of users\" with the running count; failures go to the DLQ (entitle dlq list)");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

pub async fn reconcile(
    stack: Option<&str>,
    user: Option<String>,
    all: bool,
    after: Option<String>,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let deps = deps(stack).await?;
    let users: Vec<SubjectId> = match (user, all) {
        (Some(user), false) => {
            vec![SubjectId::parse(&user).map_err(|e| Failed(format!("{user}: {e}")))?]
        }
        (None, true) => {
            eprintln!("listing users…");
            let mut users = deps.customers.all_users().await?;
            users.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            if let Some(after) = &after {
                users.retain(|u| u.as_str() > after.as_str());
            }
            users
        }
        _ => return Err(Failed("give a USER_ID or --all, not both".into())),
    };
    let total = users.len();
    let mut failed = 0;
    for (n, user) in users.iter().enumerate() {
        let now = UnixTime::now();
        match reconcile_user(&deps, user, now).await {
            Ok(()) => {
                let current = deps.store.load(user).await?.map(|s| s.entitlements);
                let (plan, status) = current
                    .map(|e| (e.plan, format!("{:?}", e.status).to_lowercase()))
                    .unwrap_or_default();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"userId": user.as_str(), "plan": plan, "status": status})
                    );
                } else {
                    println!("[{}/{total}] {user}: {plan} ({status})", n + 1);
                }
            }
            Err(error) => {
                failed += 1;
                let chain = error.chain();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"userId": user.as_str(), "error": chain})
                    );
                } else {
                    println!("[{}/{total}] {user}: FAILED: {chain}", n + 1);
                }
                if total > 1 {
                    eprintln!("entitle: resume after the last good user with --after; failed ones can be retried one by one");
                }
            }
        }
    }
    if !json {
        println!("reconciled {} of {total}", total - failed);
    }
    Ok(if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// A dead-lettered record, received (hidden from other readers until it is released or deleted).
struct Letter {
    receipt: String,
    id: String,
    body: String,
    reason: String,
    received: i32,
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    max: usize,
    hide_secs: i32,
) -> Result<Vec<Letter>, Failed> {
    let mut letters = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while letters.len() < max {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages((max - letters.len()).min(10) as i32)
            .visibility_timeout(hide_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| {
                Failed(format!(
                    "reading the DLQ failed: {}",
                    entitle_core::adapters::sdk_error(e)
                ))
            })?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let id = m.message_id().unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) {
                continue;
            }
            letters.push(Letter {
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                reason: m
                    .message_attributes()
                    .and_then(|a| a.get("reason"))
                    .and_then(|v| v.string_value())
                    .unwrap_or("(no reason recorded: exhausted the queue's retries)")
                    .to_owned(),
                received: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                body: m.body().unwrap_or_default().to_owned(),
                id,
            });
        }
    }
    Ok(letters)
}

async fn release(sqs: &aws_sdk_sqs::Client, queue: &str, letter: &Letter) {
    let _ = sqs
        .change_message_visibility()
        .queue_url(queue)
        .receipt_handle(&letter.receipt)
        .visibility_timeout(0)
        .send()
        .await;
}

fn summary(body: &str) -> (String, String) {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(event) => (
            event["id"].as_str().unwrap_or("?").to_owned(),
            event["type"].as_str().unwrap_or("?").to_owned(),
        ),
        Err(_) => ("?".into(), "(not JSON)".into()),
    }
}

/// `entitle dlq list [--max N]`: every dead-lettered event with its reason; nothing is removed.
pub async fn dlq_list(
    stack: Option<&str>,
    max: usize,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    resolve(stack).await?;
    let queue = entitle_core::config::required("DEAD_LETTER_QUEUE_URL")?;
    let sqs = aws_sdk_sqs::Client::new(&entitle_core::config::aws().await);
    let letters = receive(&sqs, &queue, max, 30).await?;
    for letter in &letters {
        let (id, kind) = summary(&letter.body);
        if json {
            println!(
                "{}",
                serde_json::json!({"messageId": letter.id, "eventId": id, "type": kind, "reason": letter.reason})
            );
        } else {
            println!("{id}  {kind}  {}", letter.reason);
        }
        release(&sqs, &queue, letter).await;
    }
    if !json {
        println!("{} dead-lettered events", letters.len());
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `entitle dlq redrive [--max N]`: each event applied by the processor's own code, removed from the queue
/// only once it applied; one that still fails stays, with the new reason printed.
pub async fn dlq_redrive(
    stack: Option<&str>,
    max: usize,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let deps = deps(stack).await?;
    let queue = entitle_core::config::required("DEAD_LETTER_QUEUE_URL")?;
    let sqs = aws_sdk_sqs::Client::new(&entitle_core::config::aws().await);
    // Hidden long enough to apply them all; each one that fails is released at once.
    let letters = receive(&sqs, &queue, max, 300).await?;
    let (mut applied, mut failing) = (0, 0);
    for letter in &letters {
        let (id, kind) = summary(&letter.body);
        let outcome = match serde_json::from_str::<QueueMessage>(&letter.body) {
            Err(e) => Err(format!("not a billing event: {e}")),
            Ok(message) => run(&deps, &message, UnixTime::now())
                .await
                .map_err(|e| e.chain()),
        };
        match outcome {
            Ok(()) => {
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(&letter.receipt)
                    .send()
                    .await
                    .map_err(|e| {
                        Failed(format!(
                            "{id} applied, but removing it from the DLQ failed: {}",
                            entitle_core::adapters::sdk_error(e)
                        ))
                    })?;
                applied += 1;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"eventId": id, "type": kind, "applied": true})
                    );
                } else {
                    println!("applied  {id}  {kind}");
                }
            }
            Err(reason) => {
                release(&sqs, &queue, letter).await;
                failing += 1;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"eventId": id, "type": kind, "applied": false, "reason": reason, "receiveCount": letter.received})
                    );
                } else {
                    println!("failing  {id}  {kind}  {reason}");
                }
            }
        }
    }
    if !json {
        println!("{applied} applied and removed, {failing} still failing (left in the queue)");
    }
    Ok(if failing == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// `entitle usage USER_ID`: what usage-api's `GET /v1/usage` answers, as a table.
pub async fn usage(
    stack: Option<&str>,
    user: &str,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let user = SubjectId::parse(user).map_err(|e| Failed(format!("{user}: {e}")))?;
    resolve(stack).await?;
    let aws = entitle_core::config::aws().await;
    let store = entitle_core::adapters::DynamoUsage::new(
        aws_sdk_dynamodb::Client::new(&aws),
        entitle_core::config::required("USAGE_TABLE")?,
        entitle_core::config::required("ENTITLEMENTS_TABLE")?,
    );
    let catalog = entitle_domain::plans::PlanCatalog::from_env()?;
    let picture =
        entitle_domain::usage::account::usage_of(&store, &catalog, &user, None, UnixTime::now())
            .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&picture).expect("an answer is plain data")
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    println!("{user}  plan {}", picture.plan);
    println!(
        "{:<24} {:<10} {:>10} {:>8} {:>12} {:>12} {:>9}  resets",
        "limit", "kind", "used", "held", "limit", "remaining", "overage"
    );
    let bound = |b: Option<Bound>| match b {
        None => "-".to_owned(),
        Some(Bound::Unlimited) => "unlimited".to_owned(),
        Some(Bound::Count(n)) => n.to_string(),
    };
    for row in &picture.usage {
        println!(
            "{:<24} {:<10} {:>10} {:>8} {:>12} {:>12} {:>9}  {}",
            row.feature,
            row.kind.as_str(),
            row.used,
            row.held,
            bound(row.limit),
            bound(row.remaining),
            // Only a limit the plan bills overage of has one.
            row.overage.map_or("-".to_owned(), |n| n.to_string()),
            row.resets_at.as_deref().unwrap_or("-"),
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `entitle customer sync USER_ID`: the Clerk profile (primary email, name) written to the user's Stripe
/// customer again, the customer made (with `metadata.clerkUserId`) and linked when missing — what
/// clerk-webhook does on `user.updated`, for a user whose event was lost or predates Entitle.
pub async fn customer_sync(
    stack: Option<&str>,
    user: &str,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    use entitle_domain::customers::ensure_customer;
    let user = SubjectId::parse(user).map_err(|e| Failed(format!("{user}: {e}")))?;
    resolve(stack).await?;
    let aws = entitle_core::config::aws().await;
    let customers = entitle_core::adapters::DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&aws),
        entitle_core::config::required("CUSTOMERS_TABLE")?,
    );
    let stripe = stripe_client(&aws).await?;
    let clerk = entitle_core::adapters::ClerkClient::new(
        entitle_core::config::secret("CLERK_SECRET_KEY", &aws).await?,
        entitle_core::config::optional("CLERK_API_BASE")
            .unwrap_or_else(|| "https://api.clerk.com".into()),
    );
    let raw = clerk
        .user(&user)
        .await
        .map_err(|e| Failed::because(format!("reading the Clerk user {user} failed"), &e))?;
    let clerk_user: entitle_core::clerk_events::ClerkUser = serde_json::from_value(raw)
        .map_err(|e| Failed(format!("Clerk's answer for {user} is not a user: {e}")))?;
    let profile = clerk_user.profile();
    let ensured = ensure_customer(&customers, &stripe, &user)
        .await
        .map_err(|e| Failed::because(format!("the Stripe customer of {user}"), &e))?;
    // One write per user and minute: a retry right after a failure is the same Stripe write.
    let key = format!(
        "entitle-customer-sync-{user}-{}",
        UnixTime::now().secs() / 60
    );
    entitle_app::customers::write_profile(
        &customers,
        &stripe,
        &user,
        &ensured,
        &profile,
        entitle_app::customers::ProfileWrite::All,
        &key,
        UnixTime::now(),
    )
    .await
    .map_err(|e| Failed(format!("updating {}: {e}", ensured.customer)))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "userId": user.as_str(), "stripeCustomerId": ensured.customer.as_str(), "created": ensured.created,
                "email": profile.email, "name": profile.name,
            })
        );
    } else {
        println!(
            "{user} → {} ({}): email {}, name {}",
            ensured.customer,
            if ensured.created {
                "created"
            } else {
                "existing"
            },
            profile.email.as_deref().unwrap_or("-"),
            profile.name.as_deref().unwrap_or("-"),
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `entitle explain SUBJECT [FEATURE] [--at TIME]`.
pub struct Explain<'a> {
    pub subject: &'a str,
    pub feature: Option<&'a str>,
    pub at: Option<&'a str>,
}

fn instant(text: Option<&str>, default: UnixTime) -> Result<UnixTime, Failed> {
    match text {
        None => Ok(default),
        Some(t) => UnixTime::parse_rfc3339(t).ok_or_else(|| {
            Failed(format!(
                "{t}: not an RFC 3339 UTC instant such as 2026-12-01T09:00:00Z"
            ))
        }),
    }
}

async fn history_store(
    stack: Option<&str>,
) -> Result<entitle_core::adapters::DynamoEntitlements, Failed> {
    resolve(stack).await?;
    let aws = entitle_core::config::aws().await;
    Ok(entitle_core::adapters::DynamoEntitlements::new(
        aws_sdk_dynamodb::Client::new(&aws),
        entitle_core::config::required("ENTITLEMENTS_TABLE")?,
    ))
}

/// `entitle explain`: the version in force (one query) and where each number comes from.
pub async fn explain(
    stack: Option<&str>,
    query: Explain<'_>,
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let subject =
        SubjectId::parse(query.subject).map_err(|e| Failed(format!("{}: {e}", query.subject)))?;
    let at = instant(query.at, UnixTime::now())?;
    let store = history_store(stack).await?;
    let catalog = entitle_domain::plans::PlanCatalog::from_env()?;
    let answer = entitle_app::history::at((&store, &catalog), &subject, at, true)
        .await
        .map_err(|e| Failed(e.message.into_owned()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&answer).expect("an answer is plain data")
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let e = &answer.entitlements;
    match (answer.version, &answer.applied_at) {
        (Some(v), Some(applied)) => {
            println!("{subject} at {}: version {v}, applied {applied}", answer.at)
        }
        _ => println!("{subject} at {}: no version yet — the free plan", answer.at),
    }
    let Some(explained) = &answer.explain else {
        return Ok(std::process::ExitCode::SUCCESS);
    };
    println!("status: {}", explained.status);
    let wanted = |name: &str| query.feature.is_none_or(|f| f == name);
    for source in explained
        .limits
        .iter()
        .filter(|(n, _)| wanted(n))
        .map(|(_, s)| s)
    {
        println!("  {}", source.text);
    }
    for (feature, from) in explained.features.iter().filter(|(n, _)| wanted(n)) {
        println!("  {feature}: from {}", from.join(", "));
    }
    if let Some(feature) = query.feature {
        if !explained.limits.contains_key(feature) && !e.features.contains(feature) {
            println!(
                "  {feature}: not granted (the {} plan and its add-ons do not include it)",
                e.plan
            );
        }
    }
    if let Some(p) = &answer.provenance {
        if let Some(cause) = &p.cause {
            println!(
                "from: {} {}{}",
                cause.event_type,
                cause.event_id,
                cause
                    .subscription_id
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            );
        }
        for item in &p.items {
            println!(
                "  item: {}{} {} × {} → {}{}",
                item.subscription_id,
                item.item_id
                    .as_deref()
                    .map(|id| format!(" {id}"))
                    .unwrap_or_default(),
                item.lookup_key.as_deref().unwrap_or(&item.price),
                item.quantity,
                item.plan.as_deref().unwrap_or("(nothing in the catalog)"),
                if item.grandfathered {
                    " (grandfathered price)"
                } else {
                    ""
                }
            );
        }
        match &p.previous_catalog {
            Some(before) => println!("catalog: {} (was {before})", p.catalog),
            None => println!("catalog: {}", p.catalog),
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `entitle history SUBJECT [--from --to]`: each version, what changed and why.
pub async fn history(
    stack: Option<&str>,
    subject: &str,
    (from, to): (Option<&str>, Option<&str>),
    json: bool,
) -> Result<std::process::ExitCode, Failed> {
    let subject = SubjectId::parse(subject).map_err(|e| Failed(format!("{subject}: {e}")))?;
    let (from, to) = (
        instant(from, UnixTime::from_secs(0))?,
        instant(to, UnixTime::now())?,
    );
    let store = history_store(stack).await?;
    let answer = entitle_app::history::history(&store, &subject, from, to)
        .await
        .map_err(|e| Failed(e.message.into_owned()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&answer).expect("an answer is plain data")
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for v in &answer.versions {
        let p = &v.provenance;
        let cause = p.cause.as_ref().map_or("(sweep)".to_owned(), |c| {
            format!("{} {}", c.event_type, c.event_id)
        });
        println!(
            "v{:<4} {}  {} {:?}  [{}]  {}",
            v.version,
            v.applied_at,
            v.entitlements.plan,
            v.entitlements.status,
            p.reasons.join(", "),
            cause
        );
        for change in &p.changes {
            println!("        {}: {} → {}", change.field, change.from, change.to);
        }
    }
    if answer.truncated {
        println!(
            "(more: ask again with --from {})",
            answer.versions.last().map_or("", |v| v.applied_at.as_str())
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
