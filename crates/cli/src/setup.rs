//! `entitle setup [--apply]`: what a deployed stack needs from Stripe and its secrets, made so — idempotently,
//! as a dry run unless `--apply`:
//! - the Stripe webhook endpoint at the stack's `StripeWebhookUrl`, with exactly the event types Entitle
//!   handles (created, or its event list updated), and its signing secret in the stack's secret;
//! - `STRIPE_SECRET_KEY`, `CLERK_SECRET_KEY` and `CLERK_WEBHOOK_SECRET`, when set here, into the stack's
//!   secrets;
//! - the billing portal configuration from the catalog: which plans (products and prices) a customer may
//!   switch between, cancel at period end, card and invoices;
//! - then prints what only the operator can do in Clerk.
use crate::ops::resolve_outputs;
use crate::Failed;
use entitle_core::stripe::client::STRIPE_VERSION;
use entitle_core::stripe::events::HANDLED_STRIPE_TYPES;
use entitle_core::stripe::StripeClient;
use entitle_domain::plans::PlanCatalog;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// The variables setup reads, and the stack output each comes from when the environment does not set it.
const FROM_OUTPUTS: &[(&str, &str)] = &[
    ("STRIPE_WEBHOOK_URL", "StripeWebhookUrl"),
    ("CLERK_WEBHOOK_URL", "ClerkWebhookUrl"),
    ("STRIPE_WEBHOOK_SECRET_ARN", "StripeWebhookSecretArn"),
    ("STRIPE_SECRET_KEY_ARN", "StripeSecretKeyArn"),
    ("CLERK_SECRET_KEY_ARN", "ClerkSecretKeyArn"),
    ("CLERK_WEBHOOK_SECRET_ARN", "ClerkWebhookSecretArn"),
];

/// The Clerk events clerk-webhook handles.
pub const CLERK_EVENTS: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organizationMembership.created",
    "organizationMembership.updated",
    "organizationMembership.deleted",
    "organizationInvitation.created",
    "organizationInvitation.accepted",
    "organizationInvitation.revoked",
];
/// The session-token claim the frontend reads entitlements from.
pub const SESSION_CLAIM: &str = r#"{"billing": "{{user.public_metadata.billing}}"}"#;
/// `metadata.entitle` on what setup makes in Stripe.
const MARK: &str = "setup";

/// One change setup would make (dry run) or made (`--apply`).
struct Change {
    what: String,
    done: bool,
}

pub async fn setup(
    stack: Option<&str>,
    catalog: &PlanCatalog,
    apply: bool,
    json: bool,
) -> Result<ExitCode, Failed> {
    resolve_outputs(stack, FROM_OUTPUTS).await?;
    let aws = entitle_core::config::aws().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let var = |name: &str| entitle_core::config::required(name).map_err(Failed::from);
    // The key in the environment is the one to store; the stack's secret is used when none is given.
    let stripe_key = match entitle_core::config::optional("STRIPE_SECRET_KEY") {
        Some(key) => key,
        None => read_secret(&secrets, &var("STRIPE_SECRET_KEY_ARN")?).await?,
    };
    if stripe_key.is_empty() {
        return Err(Failed(
            "no Stripe key: set STRIPE_SECRET_KEY (it is stored in the stack's secret)".into(),
        ));
    }
    let stripe = StripeClient::new(
        secrecy::SecretString::from(stripe_key.clone()),
        entitle_core::config::optional("STRIPE_API_BASE")
            .unwrap_or_else(|| "https://api.stripe.com".into()),
    );
    let mut changes = Vec::new();

    // 1. The API keys and the Clerk signing secret given here, into the stack's secrets.
    for (value_var, arn_var) in [
        ("STRIPE_SECRET_KEY", "STRIPE_SECRET_KEY_ARN"),
        ("CLERK_SECRET_KEY", "CLERK_SECRET_KEY_ARN"),
        ("CLERK_WEBHOOK_SECRET", "CLERK_WEBHOOK_SECRET_ARN"),
    ] {
        let Some(value) = entitle_core::config::optional(value_var) else {
            continue;
        };
        let arn = var(arn_var)?;
        if read_secret(&secrets, &arn).await? != value {
            if apply {
                write_secret(&secrets, &arn, &value).await?;
            }
            changes.push(Change {
                what: format!("store {value_var} in the stack's secret {arn}"),
                done: apply,
            });
        }
    }

    // 2. The Stripe webhook endpoint, and its signing secret.
    let url = var("STRIPE_WEBHOOK_URL")?;
    let secret_arn = var("STRIPE_WEBHOOK_SECRET_ARN")?;
    let wanted: BTreeSet<&str> = HANDLED_STRIPE_TYPES.iter().copied().collect();
    let endpoints = stripe.get("/v1/webhook_endpoints?limit=100").await?;
    let existing = endpoints["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"].as_str() == Some(url.as_str()));
    match existing {
        None => {
            if apply {
                let mut params: Vec<(&str, String)> = vec![
                    ("url", url.clone()),
                    ("api_version", STRIPE_VERSION.to_owned()),
                    ("description", "Entitle".to_owned()),
                    ("metadata[entitle]", MARK.to_owned()),
                ];
                params.extend(wanted.iter().map(|t| ("enabled_events[]", (*t).to_owned())));
                // A new attempt is a new key: a key made of the URL alone would replay the creation of an
                // endpoint deleted since (for 24 h) and store a dead secret. The list above already found
                // an endpoint on this URL, so a second run never makes a twin.
                let key = format!(
                    "entitle-setup-webhook-{}-{}",
                    short_hash(&url),
                    entitle_domain::time::UnixTime::now().secs()
                );
                let created = stripe
                    .post_form("/v1/webhook_endpoints", &params, &key)
                    .await?;
                let created_id = created["id"].as_str().unwrap_or_default();
                // Stripe answers a replayed key with the first answer, even for an endpoint deleted since.
                if stripe
                    .get(&format!("/v1/webhook_endpoints/{}", path(created_id)))
                    .await
                    .is_err()
                {
                    return Err(Failed(format!(
                        "Stripe answered with webhook endpoint {created_id}, which does not exist: run setup again"
                    )));
                }
                let signing = created["secret"]
                    .as_str()
                    .ok_or_else(|| Failed("Stripe's answer has no signing secret".into()))?;
                write_secret(&secrets, &secret_arn, signing).await?;
            }
            changes.push(Change {
                what: format!(
                    "register the Stripe webhook endpoint {url} ({} event types) and store its signing secret in {secret_arn}",
                    wanted.len()
                ),
                done: apply,
            });
        }
        Some(endpoint) => {
            let id = endpoint["id"].as_str().unwrap_or_default().to_owned();
            let current: BTreeSet<&str> = endpoint["enabled_events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if current != wanted {
                if apply {
                    let params: Vec<(&str, String)> = wanted
                        .iter()
                        .map(|t| ("enabled_events[]", (*t).to_owned()))
                        .collect();
                    let key = format!(
                        "entitle-setup-events-{}",
                        short_hash(&format!("{id}{wanted:?}"))
                    );
                    stripe
                        .post_form(
                            &format!("/v1/webhook_endpoints/{}", path(&id)),
                            &params,
                            &key,
                        )
                        .await?;
                }
                changes.push(Change {
                    what: format!(
                        "set the event types of webhook endpoint {id} to the {} Entitle handles",
                        wanted.len()
                    ),
                    done: apply,
                });
            }
            if read_secret(&secrets, &secret_arn).await?.is_empty() {
                // Stripe shows an endpoint's secret only when it is created.
                return Err(Failed(format!(
                    "the webhook endpoint {id} exists but its signing secret is not in {secret_arn}: copy it from \
                     the Stripe Dashboard (Developers → Webhooks → the endpoint → Signing secret) with \
                     `aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string whsec_…`, or \
                     delete the endpoint and run setup again"
                )));
            }
        }
    }

    // 3. The billing portal: the plans a customer may switch between.
    let products = portal_products(&stripe, catalog).await?;
    let configurations = stripe
        .get("/v1/billing_portal/configurations?limit=100")
        .await?;
    let list = configurations["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = list
        .iter()
        .find(|c| c["metadata"]["entitle"].as_str() == Some(MARK));
    // Only Entitle's own configuration is created or updated, never the account's default: billing-api
    // finds it by its mark and names it in every portal session.
    let params = portal_params(&products);
    match ours {
        Some(config) if portal_matches(config, &products) => {}
        Some(config) => {
            let id = config["id"].as_str().unwrap_or_default().to_owned();
            if apply {
                let key = format!(
                    "entitle-setup-portal-{}",
                    short_hash(&format!("{id}{params:?}"))
                );
                stripe
                    .post_form(
                        &format!("/v1/billing_portal/configurations/{}", path(&id)),
                        &form(&params),
                        &key,
                    )
                    .await?;
            }
            changes.push(Change {
                what: format!(
                    "update billing portal configuration {id}: switching between {} plans, cancel at period end",
                    products.len()
                ),
                done: apply,
            });
        }
        None => {
            if apply {
                let key = format!(
                    "entitle-setup-portal-{}",
                    short_hash(&format!("{params:?}"))
                );
                stripe
                    .post_form("/v1/billing_portal/configurations", &form(&params), &key)
                    .await?;
            }
            changes.push(Change {
                what: format!(
                    "create a billing portal configuration: switching between {} plans, cancel at period end",
                    products.len()
                ),
                done: apply,
            });
        }
    }

    // 4. What only the operator can do, in Clerk.
    let clerk_url = var("CLERK_WEBHOOK_URL")?;
    let clerk_secret_set = !read_secret(&secrets, &var("CLERK_WEBHOOK_SECRET_ARN")?)
        .await?
        .is_empty();
    if json {
        let answer = json!({
            "applied": apply,
            "changes": changes.iter().map(|c| json!({"change": c.what, "done": c.done})).collect::<Vec<_>>(),
            "stripeWebhook": {"url": url, "events": wanted},
            "clerk": {
                "webhookUrl": clerk_url,
                "events": CLERK_EVENTS,
                "webhookSecretStored": clerk_secret_set,
                "sessionTokenClaim": SESSION_CLAIM,
            },
        });
        println!("{answer:#}");
    } else {
        if changes.is_empty() {
            println!("Stripe and the stack's secrets are set up: nothing to change.");
        }
        for change in &changes {
            let verb = if change.done { "done" } else { "would" };
            println!("{verb:>5}  {}", change.what);
        }
        if !apply && !changes.is_empty() {
            println!("(dry run: `entitle setup --apply` makes these changes)");
        }
        println!();
        println!("In the Clerk Dashboard:");
        println!("  Webhooks → Add Endpoint: {clerk_url}");
        println!("    events: {}", CLERK_EVENTS.join(", "));
        if !clerk_secret_set {
            println!(
                "    then its signing secret: CLERK_WEBHOOK_SECRET=whsec_… entitle setup --apply"
            );
        }
        println!("  Sessions → Customize session token: {SESSION_CLAIM}");
    }
    Ok(if !apply && !changes.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Each self-serve base plan's product and its recurring prices, found in Stripe by lookup key (or id).
async fn portal_products(
    stripe: &StripeClient,
    catalog: &PlanCatalog,
) -> Result<BTreeMap<String, BTreeSet<String>>, Failed> {
    let mut products: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for plan in catalog
        .plans()
        .iter()
        .filter(|p| !p.default && !p.addon && !p.contact_sales)
    {
        for price in &plan.prices {
            let found = match (&price.id, &price.lookup_key) {
                (_, Some(lookup_key)) => {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .append_pair("lookup_keys[]", lookup_key)
                        .append_pair("active", "true")
                        .finish();
                    stripe.get(&format!("/v1/prices?{query}")).await?["data"][0].clone()
                }
                (Some(id), None) => stripe.get(&format!("/v1/prices/{}", path(id))).await?,
                (None, None) => Value::Null,
            };
            let (Some(id), Some(product)) = (found["id"].as_str(), found["product"].as_str())
            else {
                return Err(Failed(format!(
                    "plan {}: price {} is not in Stripe yet — run `entitle catalog apply` first",
                    plan.id,
                    price.reference()
                )));
            };
            products
                .entry(product.to_owned())
                .or_default()
                .insert(id.to_owned());
        }
    }
    Ok(products)
}

fn portal_params(products: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("features[subscription_update][enabled]", "true"),
        (
            "features[subscription_update][proration_behavior]",
            "create_prorations",
        ),
        (
            "features[subscription_update][default_allowed_updates][]",
            "price",
        ),
        ("features[subscription_cancel][enabled]", "true"),
        ("features[subscription_cancel][mode]", "at_period_end"),
        ("features[payment_method_update][enabled]", "true"),
        ("features[invoice_history][enabled]", "true"),
        ("metadata[entitle]", MARK),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (i, (product, prices)) in products.iter().enumerate() {
        let prefix = format!("features[subscription_update][products][{i}]");
        params.push((format!("{prefix}[product]"), product.clone()));
        for price in prices {
            params.push((format!("{prefix}[prices][]"), price.clone()));
        }
    }
    params
}

/// `params` as the form encoder takes them.
fn form(params: &[(String, String)]) -> Vec<(&str, String)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect()
}

/// Whether `config` already offers exactly these products and prices, cancel at period end, and is ours.
fn portal_matches(config: &Value, products: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let features = &config["features"];
    let offered: BTreeMap<String, BTreeSet<String>> = features["subscription_update"]["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["product"].as_str().unwrap_or_default().to_owned(),
                p["prices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .collect();
    features["subscription_update"]["enabled"] == true
        && features["subscription_cancel"]["enabled"] == true
        && features["subscription_cancel"]["mode"] == "at_period_end"
        && features["payment_method_update"]["enabled"] == true
        && config["metadata"]["entitle"].as_str() == Some(MARK)
        && &offered == products
}

/// The secret's text ("" for a stack-created secret not filled yet, `{"key": ""}`), as the functions read it.
async fn read_secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, Failed> {
    let text = entitle_core::secrets::read_text(client, arn, arn)
        .await
        .map_err(Failed::from)?;
    Ok(text.expose_secret().to_owned())
}

/// Stores `value` as the stack's secrets hold it, `{"key": "…"}`.
async fn write_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    value: &str,
) -> Result<(), Failed> {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(json!({ "key": value }).to_string())
        .send()
        .await
        .map_err(|e| {
            Failed(format!(
                "storing secret {arn} failed: {}",
                entitle_core::adapters::sdk_error(e)
            ))
        })?;
    Ok(())
}

fn path(id: &str) -> String {
    entitle_core::stripe::client::path_segment(id)
}

/// A short stable digest for idempotency keys (same request, same key).
fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
