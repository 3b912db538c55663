//! `entitle user erase USER_ID [--apply] [--stripe]`: the personal data Entitle holds for a user, erased.
//!
//! What Entitle holds that names a person (docs/security.md, personal data):
//! - the idempotency table: each webhook delivery's verified raw `payload`, kept 30 days for audit — a
//!   Clerk `user.*` payload carries emails and names, a Stripe `checkout.session.completed` or `invoice.*`
//!   payload the customer's email and name. Found by the user's id or their Stripe customer's id as a JSON
//!   string in the payload; the payload is removed, the record kept (its id and status de-duplicate a
//!   redelivery until its TTL);
//! - the customers row's `email` and `name` (the profile last written to Stripe): removed. Kept: `userId`,
//!   `stripeCustomerId`, `status` and the timestamps — the user ↔ Stripe customer link, without which a late
//!   event would make a second customer, and which ties the billing records to the account;
//! - with `--stripe`, the Stripe customer's `name` and `email`: cleared. Kept in Stripe: the customer, its
//!   invoices, payments and their copies of the customer's details at the time — billing and tax records
//!   that must be kept (Stripe keeps them under its own retention).
//!
//! The entitlements, history and usage tables hold the user's id, plans, limits and Stripe ids, no email or
//! name; they are kept. A dry run (the plan) unless `--apply`; a second run finds nothing to erase. With
//! `--apply` the customers row gets `erasedAt` (and what was erased, as counts), and one JSON line on stderr
//! records the erasure: the user id, counts and ids of records, never the erased values.
use crate::ops::{resolve_outputs, stripe_client};
use crate::Failed;
use aws_sdk_dynamodb::types::AttributeValue;
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::ExitCode;

const FROM_OUTPUTS: &[(&str, &str)] = &[
    ("CUSTOMERS_TABLE", "CustomersTableName"),
    ("IDEMPOTENCY_TABLE", "IdempotencyTableName"),
];

/// The customers row's personal fields.
const PERSONAL_FIELDS: &[&str] = &["email", "name"];

pub struct Options {
    pub apply: bool,
    pub stripe: bool,
    pub json: bool,
}

/// A webhook record whose payload names the user.
struct Record {
    pk: String,
    event_type: String,
}

/// What the erasure finds (and, with `--apply`, removes).
struct Plan {
    customer: Option<String>,
    deleted: bool,
    row_exists: bool,
    row_fields: Vec<&'static str>,
    records: Vec<Record>,
    /// With `--stripe`: the Stripe customer's fields that hold a value.
    stripe_fields: Vec<&'static str>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.row_fields.is_empty() && self.records.is_empty() && self.stripe_fields.is_empty()
    }
}

pub async fn erase(stack: Option<&str>, user: &str, options: Options) -> Result<ExitCode, Failed> {
    let user = SubjectId::parse(user).map_err(|e| Failed(format!("{user}: {e}")))?;
    resolve_outputs(stack, FROM_OUTPUTS).await?;
    let aws = entitle_core::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let customers_table = entitle_core::config::required("CUSTOMERS_TABLE")?;
    let idempotency_table = entitle_core::config::required("IDEMPOTENCY_TABLE")?;

    // 1. The customers row.
    let row = dynamodb
        .get_item()
        .table_name(&customers_table)
        .key("userId", AttributeValue::S(user.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws_failed("reading the customers row", e))?
        .item;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::to_owned)
    };
    let customer = row.as_ref().and_then(|r| text(r, "stripeCustomerId"));
    let row_fields: Vec<&'static str> = row
        .as_ref()
        .map(|r| {
            PERSONAL_FIELDS
                .iter()
                .copied()
                .filter(|f| r.contains_key(*f))
                .collect()
        })
        .unwrap_or_default();
    let deleted = row.as_ref().is_some_and(|r| r.contains_key("deletedAt"));

    // 2. The webhook records whose payload names the user or their Stripe customer (as a JSON string: an id
    // that merely starts with the user's is not a match).
    let records = payload_records(
        &dynamodb,
        &idempotency_table,
        user.as_str(),
        customer.as_deref(),
    )
    .await?;

    // 3. The Stripe customer's name and email, when asked.
    let stripe = match (&customer, options.stripe) {
        (Some(_), true) => Some(stripe_client(&aws).await?),
        _ => None,
    };
    let mut stripe_fields = Vec::new();
    if let (Some(client), Some(id)) = (&stripe, &customer) {
        let found = client
            .get(&format!(
                "/v1/customers/{}",
                entitle_core::stripe::client::path_segment(id)
            ))
            .await
            .map_err(|e| Failed::because(format!("reading the Stripe customer {id}"), &e))?;
        if found["deleted"] != true {
            stripe_fields = ["name", "email"]
                .into_iter()
                .filter(|f| found[*f].as_str().is_some_and(|v| !v.is_empty()))
                .collect();
        }
    }
    let plan = Plan {
        customer,
        deleted,
        row_exists: row.is_some(),
        row_fields,
        records,
        stripe_fields,
    };

    if options.apply && !plan.is_empty() {
        let now = UnixTime::now();
        for record in &plan.records {
            remove_payload(&dynamodb, &idempotency_table, &record.pk, now).await?;
        }
        if let (Some(client), Some(id)) = (&stripe, &plan.customer) {
            if !plan.stripe_fields.is_empty() {
                let params: Vec<(&str, String)> = plan
                    .stripe_fields
                    .iter()
                    .map(|f| (*f, String::new()))
                    .collect();
                // Stripe unsets a field posted empty. One key per run (the client's retries reuse it): a key
                // made of the customer and fields alone would, within Stripe's 24 h, replay the first erasure's
                // answer to a later one and leave a profile written again since.
                let run = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                let key = format!("entitle-erase-{id}-{}-{run}", plan.stripe_fields.join("-"));
                client
                    .post_form(
                        &format!(
                            "/v1/customers/{}",
                            entitle_core::stripe::client::path_segment(id)
                        ),
                        &params,
                        &key,
                    )
                    .await
                    .map_err(|e| {
                        Failed::because(format!("clearing the Stripe customer {id}"), &e)
                    })?;
            }
        }
        if plan.row_exists {
            // Last, so a failure above leaves the row's fields for the next run to find.
            erase_row(&dynamodb, &customers_table, &user, &plan, now).await?;
        }
        // The erasure's record: ids and counts, never an erased value.
        eprintln!(
            "{}",
            json!({
                "erasure": {
                    "userId": user.as_str(),
                    "at": now.secs(),
                    "customersRowFields": plan.row_fields,
                    "payloadsRemoved": plan.records.iter().map(|r| r.pk.as_str()).collect::<Vec<_>>(),
                    "stripeCustomer": plan.customer,
                    "stripeFieldsCleared": plan.stripe_fields,
                }
            })
        );
    }
    show(&user, &plan, &options);
    Ok(if !options.apply && !plan.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// What is kept, and why (the same words in the plan and the JSON).
const KEPT: &[&str] = &[
    "the customers row's userId, stripeCustomerId, status and timestamps: the user ↔ Stripe customer link \
     (a late event would otherwise make a second customer) that ties the billing records to the account",
    "the webhook records' ids and status (no payload): they de-duplicate redeliveries until their 30-day TTL",
    "the entitlements, history and usage tables: the user id, plans, limits and Stripe ids, no email or name",
    "in Stripe: the customer, its invoices and payments and their copies of the customer's details at the \
     time — billing and tax records the law requires to be kept",
];

fn show(user: &SubjectId, plan: &Plan, options: &Options) {
    let done = options.apply;
    if options.json {
        let answer = json!({
            "userId": user.as_str(),
            "applied": done,
            "stripeCustomerId": plan.customer,
            "userDeleted": plan.deleted,
            "customersRow": {"remove": plan.row_fields, "exists": plan.row_exists},
            "payloads": plan.records.iter().map(|r| json!({"pk": r.pk, "eventType": r.event_type})).collect::<Vec<_>>(),
            "stripe": if options.stripe {
                json!({"clear": plan.stripe_fields})
            } else {
                Value::Null
            },
            "kept": KEPT,
        });
        println!("{answer:#}");
        return;
    }
    let verb = if done { "done" } else { "would" };
    println!(
        "{user}{}",
        plan.customer
            .as_deref()
            .map(|c| format!(" (Stripe customer {c})"))
            .unwrap_or_default()
    );
    if plan.is_empty() {
        println!("nothing to erase: Entitle holds no email, name or raw payload of this user");
    }
    if !plan.row_fields.is_empty() {
        println!(
            "{verb:>5}  remove {} from the customers row",
            plan.row_fields.join(", ")
        );
    }
    if !plan.records.is_empty() {
        println!(
            "{verb:>5}  remove the raw payload of {} webhook records in the idempotency table:",
            plan.records.len()
        );
        for record in &plan.records {
            println!("         {} ({})", record.pk, record.event_type);
        }
    }
    match (&plan.customer, options.stripe) {
        (Some(id), true) if !plan.stripe_fields.is_empty() => println!(
            "{verb:>5}  clear the {} of Stripe customer {id}",
            plan.stripe_fields.join(" and ")
        ),
        (Some(id), false) => {
            println!(" note  Stripe customer {id} keeps its name and email: --stripe clears them")
        }
        _ => {}
    }
    if plan.row_exists && !plan.deleted {
        println!(
            " note  the user is not deleted in Clerk (no deletedAt): a later user.updated writes their profile again"
        );
    }
    println!("kept:");
    for kept in KEPT {
        println!("  - {kept}");
    }
    if !done && !plan.is_empty() {
        println!("(dry run: `entitle user erase {user} --apply` erases this)");
    }
}

/// Every idempotency-table record with a payload naming `user` or `customer`.
async fn payload_records(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    user: &str,
    customer: Option<&str>,
) -> Result<Vec<Record>, Failed> {
    let mut filter = "attribute_exists(payload) AND (contains(payload, :user)".to_owned();
    if customer.is_some() {
        filter.push_str(" OR contains(payload, :customer)");
    }
    filter.push(')');
    let mut records = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let mut scan = dynamodb
            .scan()
            .table_name(table)
            .filter_expression(&filter)
            .projection_expression("pk, eventType")
            .expression_attribute_values(":user", AttributeValue::S(format!("\"{user}\"")))
            .set_exclusive_start_key(start.take());
        if let Some(customer) = customer {
            scan = scan.expression_attribute_values(
                ":customer",
                AttributeValue::S(format!("\"{customer}\"")),
            );
        }
        let page = scan
            .send()
            .await
            .map_err(|e| aws_failed("scanning the idempotency table", e))?;
        for item in page.items() {
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            records.push(Record {
                pk: text("pk"),
                event_type: text("eventType"),
            });
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    records.sort_by(|a, b| a.pk.cmp(&b.pk));
    Ok(records)
}

async fn remove_payload(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    now: UnixTime,
) -> Result<(), Failed> {
    let result = dynamodb
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .update_expression("REMOVE payload SET payloadErasedAt = :now")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":now", AttributeValue::N(now.secs().to_string()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Expired (TTL) or released since the scan: nothing left to erase.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_failed(&format!("removing the payload of {pk}"), e)),
    }
}

async fn erase_row(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    user: &SubjectId,
    plan: &Plan,
    now: UnixTime,
) -> Result<(), Failed> {
    let mut update =
        "SET erasedAt = :now, erasedPayloads = :payloads, erasedStripe = :stripe".to_owned();
    if !plan.row_fields.is_empty() {
        update.push_str(" REMOVE email, #name");
    }
    let mut request = dynamodb
        .update_item()
        .table_name(table)
        .key("userId", AttributeValue::S(user.to_string()))
        .update_expression(update)
        .condition_expression("attribute_exists(userId)")
        .expression_attribute_values(":now", AttributeValue::N(now.secs().to_string()))
        .expression_attribute_values(
            ":payloads",
            AttributeValue::N(plan.records.len().to_string()),
        )
        .expression_attribute_values(
            ":stripe",
            AttributeValue::Bool(!plan.stripe_fields.is_empty()),
        );
    if !plan.row_fields.is_empty() {
        request = request.expression_attribute_names("#name", "name");
    }
    request
        .send()
        .await
        .map_err(|e| aws_failed("erasing the customers row", e))?;
    Ok(())
}

fn aws_failed<E, R>(what: &str, error: aws_sdk_dynamodb::error::SdkError<E, R>) -> Failed
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Failed(format!(
        "{what} failed: {}",
        entitle_core::adapters::sdk_error(error)
    ))
}
