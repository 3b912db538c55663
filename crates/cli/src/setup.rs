//! `entitle setup [--apply]`: what a deployed stack needs from Stripe and its secrets, made so — idempotently,
//! as a dry run unless `--apply`:
//! - the Stripe webhook endpoint at the stack's `StripeWebhookUrl`, on Entitle's pinned Stripe API version
//!   (`STRIPE_VERSION`) with exactly the event types Entitle handles (created, or its event list updated), and
//!   its signing secret in the stack's secret. An endpoint on another version is replaced: Stripe sets an
//!   endpoint's version at its creation, so a new endpoint on the pinned version is registered, its secret
//!   stored beside the current one (stripe-webhook accepts a list), and then the old endpoint deleted;
//! - `STRIPE_SECRET_KEY` (the functions' key: a restricted `rk_…` key is the advice, a full `sk_live_…` key
//!   is warned about, and a stored key is never replaced by one of another kind without `--replace-key`),
//!   `CLERK_SECRET_KEY` and `CLERK_WEBHOOK_SECRET`, when set here, into the stack's secrets. Setup's own
//!   Stripe calls use `STRIPE_SETUP_KEY` when set, else that key;
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

/// How setup runs: `--apply`, `--replace-key`, `--json`.
pub struct Options {
    pub apply: bool,
    pub replace_key: bool,
    pub json: bool,
}

/// A Stripe API key's kind, from its prefix: full (`sk_`) or restricted (`rk_`), test or live mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Secret {
        live: bool,
    },
    Restricted {
        live: bool,
    },
    /// Not a Stripe secret or restricted key's prefix.
    Unrecognized,
}

impl KeyKind {
    pub fn of(key: &str) -> Self {
        match key.get(..8) {
            Some("sk_test_") => KeyKind::Secret { live: false },
            Some("sk_live_") => KeyKind::Secret { live: true },
            Some("rk_test_") => KeyKind::Restricted { live: false },
            Some("rk_live_") => KeyKind::Restricted { live: true },
            _ => KeyKind::Unrecognized,
        }
    }

    /// "a restricted live key (rk_live_…)".
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Secret { live: false } => "a full test-mode secret key (sk_test_…)",
            KeyKind::Secret { live: true } => "a full live-mode secret key (sk_live_…)",
            KeyKind::Restricted { live: false } => "a restricted test-mode key (rk_test_…)",
            KeyKind::Restricted { live: true } => "a restricted live-mode key (rk_live_…)",
            KeyKind::Unrecognized => "a key with no Stripe key prefix (sk_/rk_, test/live)",
        }
    }
}

/// Whether `given` may be stored over `stored` ("" when the secret is not filled yet): the same kind, or
/// `--replace-key`. The refusal's text otherwise.
pub fn may_replace(stored: &str, given: &str, replace_key: bool, arn: &str) -> Result<(), String> {
    let (was, is) = (KeyKind::of(stored), KeyKind::of(given));
    if stored.is_empty() || was == is || replace_key {
        return Ok(());
    }
    Err(format!(
        "not storing STRIPE_SECRET_KEY: the stack's secret {arn} holds {}, and the key given is {}. \
         Setup never replaces a stored key with one of another kind (restricted or full, test or live) \
         unless asked: check it is the key you mean for this stack, then run again with --replace-key",
        was.describe(),
        is.describe()
    ))
}

pub async fn setup(
    stack: Option<&str>,
    catalog: &PlanCatalog,
    options: Options,
) -> Result<ExitCode, Failed> {
    let Options {
        apply,
        replace_key,
        json,
    } = options;
    resolve_outputs(stack, FROM_OUTPUTS).await?;
    let aws = entitle_core::config::aws().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let var = |name: &str| entitle_core::config::required(name).map_err(Failed::from);
    let key_arn = var("STRIPE_SECRET_KEY_ARN")?;
    let stored_key = read_secret(&secrets, &key_arn).await?;
    let given_key = entitle_core::config::optional("STRIPE_SECRET_KEY");
    let mut warnings = Vec::new();
    if let Some(given) = &given_key {
        may_replace(&stored_key, given, replace_key, &key_arn).map_err(Failed)?;
        if *given != stored_key && KeyKind::of(given) == (KeyKind::Secret { live: true }) {
            warnings.push(
                "STRIPE_SECRET_KEY is a full live-mode secret key (sk_live_…): every function would hold a \
                 key that can do anything in the Stripe account. Store a restricted key (rk_live_…) with the \
                 permissions docs/deploy.md lists instead"
                    .to_owned(),
            );
        }
    }
    // Setup calls Stripe with STRIPE_SETUP_KEY when given (the operator's key: the functions' restricted key
    // has no permission on webhook endpoints or the portal's configuration), else the key it stores, else
    // the stack's.
    let setup_key = entitle_core::config::optional("STRIPE_SETUP_KEY")
        .or_else(|| given_key.clone())
        .unwrap_or_else(|| stored_key.clone());
    if setup_key.is_empty() {
        return Err(Failed(
            "no Stripe key: set STRIPE_SECRET_KEY (it is stored in the stack's secret)".into(),
        ));
    }
    let stripe = StripeClient::new(
        secrecy::SecretString::from(setup_key),
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
            let kind = if value_var == "STRIPE_SECRET_KEY" {
                format!(" ({})", KeyKind::of(&value).describe())
            } else {
                String::new()
            };
            changes.push(Change {
                what: format!("store {value_var}{kind} in the stack's secret {arn}"),
                done: apply,
            });
        }
    }

    // 2. The Stripe webhook endpoint on Entitle's pinned API version, and its signing secret.
    let url = var("STRIPE_WEBHOOK_URL")?;
    let secret_arn = var("STRIPE_WEBHOOK_SECRET_ARN")?;
    let wanted: BTreeSet<&str> = HANDLED_STRIPE_TYPES.iter().copied().collect();
    let endpoints = stripe
        .get("/v1/webhook_endpoints?limit=100")
        .await
        .map_err(stripe_failed)?;
    let on_url: Vec<&Value> = endpoints["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["url"].as_str() == Some(url.as_str()))
        .collect();
    let stored_secrets = secret_list(&read_secret(&secrets, &secret_arn).await?);
    // The endpoints whose secrets setup stored there (`None`: a secret setup did not write).
    let stored_endpoints = read_secret_endpoints(&secrets, &secret_arn).await?;
    let webhook = Webhook {
        stripe: &stripe,
        url: &url,
        secret_arn: &secret_arn,
        wanted: &wanted,
        apply,
    };
    let current = match on_url.as_slice() {
        [] => {
            let created = webhook.create(None).await?;
            if apply {
                write_webhook_secret(
                    &secrets,
                    &secret_arn,
                    &[(created.secret.clone(), created.id.clone())],
                )
                .await?;
            }
            changes.push(Change {
                what: format!(
                    "register the Stripe webhook endpoint {url} on API version {STRIPE_VERSION} ({} event types) \
                     and store its signing secret in {secret_arn}",
                    wanted.len()
                ),
                done: apply,
            });
            None
        }
        [one] => Some(*one),
        several => Some(
            webhook
                .settle(several, &stored_secrets, &stored_endpoints, &mut changes)
                .await?,
        ),
    };
    if let Some(endpoint) = current {
        let id = endpoint["id"].as_str().unwrap_or_default().to_owned();
        if stored_secrets.is_empty() {
            // Stripe shows an endpoint's secret only when it is created.
            return Err(Failed(format!(
                "the webhook endpoint {id} exists but its signing secret is not in {secret_arn}: copy it from \
                 the Stripe Dashboard (Developers → Webhooks → the endpoint → Signing secret) with \
                 `aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string whsec_…`, or \
                 delete the endpoint and run setup again"
            )));
        }
        let version = endpoint["api_version"].as_str();
        if version != Some(STRIPE_VERSION) {
            // Stripe sets an endpoint's API version at its creation: an update cannot change it. So a new
            // endpoint on the pinned version takes over (same URL and events), its secret stored first in
            // the list beside the current one (stripe-webhook accepts either), then the old one is deleted.
            let created = webhook.create(Some(&id)).await?;
            if apply {
                let mut list = vec![(created.secret.clone(), created.id.clone())];
                list.extend(
                    stored_secrets
                        .iter()
                        .take(1)
                        .map(|s| (s.clone(), id.clone())),
                );
                write_webhook_secret(&secrets, &secret_arn, &list).await?;
                webhook.delete(&id).await?;
            }
            changes.push(Change {
                what: format!(
                    "move the Stripe webhook endpoint {id} from API version {} to {STRIPE_VERSION} (Stripe cannot \
                     change an endpoint's version): register a new endpoint at {url} on {STRIPE_VERSION} with \
                     the {} event types, store its signing secret beside the current one in {secret_arn}, then \
                     delete {id}",
                    version.unwrap_or("(the account's default)"),
                    wanted.len()
                ),
                done: apply,
            });
        } else {
            let current_events: BTreeSet<&str> = endpoint["enabled_events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if current_events != wanted {
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
                        .await
                        .map_err(stripe_failed)?;
                }
                changes.push(Change {
                    what: format!(
                        "set the event types of webhook endpoint {id} to the {} Entitle handles",
                        wanted.len()
                    ),
                    done: apply,
                });
            }
        }
    }
    let endpoint_version = current
        .and_then(|e| e["api_version"].as_str())
        .map(str::to_owned);

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
            "stripeWebhook": {"url": url, "events": wanted, "apiVersion": STRIPE_VERSION, "endpointApiVersion": endpoint_version},
            "warnings": warnings,
            "clerk": {
                "webhookUrl": clerk_url,
                "events": CLERK_EVENTS,
                "webhookSecretStored": clerk_secret_set,
                "sessionTokenClaim": SESSION_CLAIM,
            },
        });
        println!("{answer:#}");
    } else {
        for warning in &warnings {
            eprintln!("entitle: warning: {warning}");
        }
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

/// A Stripe error of setup's own calls; a permission refusal (403) says which key setup called Stripe with.
fn stripe_failed(error: entitle_domain::ports::StripeError) -> Failed {
    let hint = match &error {
        entitle_domain::ports::StripeError::Rejected { status: 403, .. } => {
            " — setup calls Stripe with STRIPE_SETUP_KEY, else STRIPE_SECRET_KEY: give it a key with the \
             permissions `entitle setup` needs (docs/deploy.md, restricted keys)"
        }
        _ => "",
    };
    Failed(format!("{}{hint}", crate::describe(&error)))
}

/// The comma-separated signing secrets of a stored value, in order, blanks dropped.
fn secret_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An endpoint setup registered: its id and signing secret (in the create's answer only).
struct Created {
    id: String,
    secret: String,
}

/// The Stripe webhook endpoint's writes.
struct Webhook<'a> {
    stripe: &'a StripeClient,
    url: &'a str,
    secret_arn: &'a str,
    wanted: &'a BTreeSet<&'a str>,
    apply: bool,
}

impl Webhook<'_> {
    /// Registers an endpoint at the URL on the pinned version with the wanted events (`replaces`: the
    /// endpoint it takes over from, noted in its metadata). A dry run creates nothing (an empty secret).
    async fn create(&self, replaces: Option<&str>) -> Result<Created, Failed> {
        if !self.apply {
            return Ok(Created {
                id: String::new(),
                secret: String::new(),
            });
        }
        let mut params: Vec<(&str, String)> = vec![
            ("url", self.url.to_owned()),
            ("api_version", STRIPE_VERSION.to_owned()),
            ("description", "Entitle".to_owned()),
            ("metadata[entitle]", MARK.to_owned()),
        ];
        if let Some(old) = replaces {
            params.push(("metadata[entitle_replaces]", old.to_owned()));
        }
        params.extend(
            self.wanted
                .iter()
                .map(|t| ("enabled_events[]", (*t).to_owned())),
        );
        // A new attempt is a new key: a key made of the URL alone would replay the creation of an endpoint
        // deleted since (for 24 h) and store a dead secret. The list already found the endpoints on this URL,
        // so a second run never makes a twin.
        let key = format!(
            "entitle-setup-webhook-{}-{}",
            short_hash(&format!("{}{}", self.url, replaces.unwrap_or_default())),
            entitle_domain::time::UnixTime::now().secs()
        );
        let created = self
            .stripe
            .post_form("/v1/webhook_endpoints", &params, &key)
            .await
            .map_err(stripe_failed)?;
        let created_id = created["id"].as_str().unwrap_or_default();
        // Stripe answers a replayed key with the first answer, even for an endpoint deleted since.
        if self
            .stripe
            .get(&format!("/v1/webhook_endpoints/{}", path(created_id)))
            .await
            .is_err()
        {
            return Err(Failed(format!(
                "Stripe answered with webhook endpoint {created_id}, which does not exist: run setup again"
            )));
        }
        let secret = created["secret"]
            .as_str()
            .ok_or_else(|| Failed("Stripe's answer has no signing secret".into()))?;
        Ok(Created {
            id: created_id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// Deletes endpoint `id` (a replaced one); already gone counts as done.
    async fn delete(&self, id: &str) -> Result<(), Failed> {
        let key = format!("entitle-setup-delete-webhook-{}", short_hash(id));
        match self
            .stripe
            .delete(&format!("/v1/webhook_endpoints/{}", path(id)), &key)
            .await
        {
            Ok(_) | Err(entitle_domain::ports::StripeError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(stripe_failed(e)),
        }
    }

    /// Several endpoints at the URL: a move to the pinned version that stopped half-way. When exactly one is
    /// on the pinned version and the stack's secret names it among the endpoints whose secrets it holds (the
    /// move stores the new secret beside the old one, with both endpoints' ids, before it deletes anything),
    /// the move is finished: the others are deleted. Otherwise the operator is told which to delete — the new
    /// endpoint's secret was never stored, and Stripe shows it only once. Two secrets alone prove nothing: an
    /// earlier, finished move leaves two.
    async fn settle<'e>(
        &self,
        several: &[&'e Value],
        stored: &[String],
        stored_endpoints: &[String],
        changes: &mut Vec<Change>,
    ) -> Result<&'e Value, Failed> {
        let id = |e: &Value| e["id"].as_str().unwrap_or_default().to_owned();
        let listing = several
            .iter()
            .map(|e| {
                format!(
                    "{} ({})",
                    id(e),
                    e["api_version"]
                        .as_str()
                        .unwrap_or("the account's default version")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let pinned: Vec<&&Value> = several
            .iter()
            .filter(|e| e["api_version"].as_str() == Some(STRIPE_VERSION))
            .collect();
        let [new] = pinned.as_slice() else {
            return Err(Failed(format!(
                "{} webhook endpoints are registered at {}: {listing}. Entitle expects one, on API version \
                 {STRIPE_VERSION}: delete the others in the Stripe Dashboard (Developers → Webhooks) and run \
                 setup again",
                several.len(),
                self.url
            )));
        };
        if stored.len() < 2 || !stored_endpoints.contains(&id(new)) {
            return Err(Failed(format!(
                "webhook endpoints {listing} are registered at {}: a move to API version {STRIPE_VERSION} \
                 stopped before the new endpoint's signing secret was stored in {} (Stripe shows it only at \
                 creation). Delete the endpoint {} in the Stripe Dashboard and run setup again",
                self.url,
                self.secret_arn,
                id(new)
            )));
        }
        for old in several
            .iter()
            .filter(|e| e["api_version"].as_str() != Some(STRIPE_VERSION))
        {
            if self.apply {
                self.delete(&id(old)).await?;
            }
            changes.push(Change {
                what: format!(
                    "delete the webhook endpoint {} (API version {}), replaced by {} on {STRIPE_VERSION}",
                    id(old),
                    old["api_version"].as_str().unwrap_or("the account's default"),
                    id(new)
                ),
                done: self.apply,
            });
        }
        Ok(new)
    }
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

/// The endpoints whose signing secrets setup stored in the webhook secret (`endpoints`, beside `key`; the
/// functions read `key` only), empty for a secret setup did not write.
async fn read_secret_endpoints(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<Vec<String>, Failed> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            Failed(format!(
                "reading secret {arn} failed: {}",
                entitle_core::adapters::sdk_error(e)
            ))
        })?;
    let value: Value = out
        .secret_string()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    Ok(value["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect())
}

/// Stores the webhook signing secrets `(secret, endpoint id)`, newest first: `{"key": "whsec_…,whsec_…",
/// "endpoints": ["we_…", "we_…"]}`. The ids let a later run tell a move that stored its new secret from one
/// that died before.
async fn write_webhook_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    list: &[(String, String)],
) -> Result<(), Failed> {
    let key = list
        .iter()
        .map(|(secret, _)| secret.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let endpoints: Vec<&str> = list.iter().map(|(_, id)| id.as_str()).collect();
    put_secret(client, arn, json!({ "key": key, "endpoints": endpoints })).await
}

/// Stores `value` as the stack's secrets hold it, `{"key": "…"}`.
async fn write_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    value: &str,
) -> Result<(), Failed> {
    put_secret(client, arn, json!({ "key": value })).await
}

async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    document: serde_json::Value,
) -> Result<(), Failed> {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(document.to_string())
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
