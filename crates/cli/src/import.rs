//! `entitle customers import`: links the Stripe customers a team already had before Entitle to their Clerk
//! users — the customers table written as `ensure_customer` writes it (a conditional claim, then a link that
//! never re-points a user), and the customer's missing `metadata.userId` / `metadata.clerkUserId`. Without it
//! an existing customer's first event dead-letters ("no user for customer") and `ensure_customer` makes a
//! second customer. A dry run unless `--apply`; a second `--apply` changes nothing.
use crate::Failed;
use entitle_core::adapters::{ClerkClient, DynamoCustomerDirectory};
use entitle_core::stripe::StripeClient;
use entitle_domain::customers::CREATION_LEASE;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{ClerkError, CustomerDirectory, StripeBilling};
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

/// How a Stripe customer is matched to its Clerk user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// The customer's `metadata.userId`, else `metadata.clerkUserId` (the Clerk user must exist).
    Metadata,
    /// The Clerk user whose primary email address is the customer's email.
    Email,
}

/// The metadata keys that name the Clerk user: what checkout writes, and what `ensure_customer` writes.
const USER_KEYS: [&str; 2] = ["userId", "clerkUserId"];

/// A Stripe customer as the list answers it.
struct Customer {
    id: StripeCustomerId,
    created: i64,
    email: Option<String>,
    metadata: BTreeMap<String, String>,
}

/// What became (or, in a dry run, would become) of one customer.
enum Outcome {
    Linked,
    AlreadyLinked,
    Conflict(String),
    NoMatch(String),
}

struct Row {
    customer: StripeCustomerId,
    user: Option<SubjectId>,
    outcome: Outcome,
    /// The metadata keys written (or to write) on the Stripe customer.
    metadata: Vec<&'static str>,
}

pub async fn import(
    stack: Option<&str>,
    by: By,
    apply: bool,
    json_output: bool,
) -> Result<ExitCode, Failed> {
    crate::ops::resolve_outputs(stack, &[("CUSTOMERS_TABLE", "CustomersTableName")]).await?;
    let aws = entitle_core::config::aws().await;
    let directory = DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&aws),
        entitle_core::config::required("CUSTOMERS_TABLE")?,
    );
    let stripe = crate::ops::stripe_client(&aws).await?;
    let clerk = ClerkClient::new(
        entitle_core::config::secret("CLERK_SECRET_KEY", &aws).await?,
        entitle_core::config::optional("CLERK_API_BASE")
            .unwrap_or_else(|| "https://api.clerk.com".into()),
    );

    let customers = list_customers(&stripe).await?;
    let mut rows = Vec::new();
    let mut matched: BTreeMap<String, Vec<(Customer, SubjectId)>> = BTreeMap::new();
    for customer in customers {
        match match_user(&clerk, by, &customer).await? {
            Ok(user) => matched
                .entry(user.to_string())
                .or_default()
                .push((customer, user)),
            Err(outcome) => rows.push(Row {
                customer: customer.id,
                user: None,
                outcome,
                metadata: Vec::new(),
            }),
        }
    }
    let now = UnixTime::now();
    for (_, mut group) in matched {
        if group.len() > 1 {
            let (winner, why) = winner(&stripe, &group).await?;
            let (kept, user) = group.swap_remove(winner);
            for (other, _) in group {
                rows.push(Row {
                    customer: other.id,
                    user: Some(user.clone()),
                    outcome: Outcome::Conflict(format!(
                        "{user} has several customers: {} wins ({why})",
                        kept.id
                    )),
                    metadata: Vec::new(),
                });
            }
            rows.push(link(&directory, &stripe, kept, user, apply, now).await?);
        } else if let Some((customer, user)) = group.pop() {
            rows.push(link(&directory, &stripe, customer, user, apply, now).await?);
        }
    }
    let changes = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Linked) || !r.metadata.is_empty())
        .count();
    report(&rows, apply, by, json_output);
    Ok(if !apply && changes > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every customer of the account (`GET /v1/customers`, newest first), with a progress line on a terminal.
async fn list_customers(stripe: &StripeClient) -> Result<Vec<Customer>, Failed> {
    let progress = std::io::stderr().is_terminal();
    eprintln!("reading Stripe's customers…");
    let listed = stripe
        .customers(|count| {
            if progress {
                eprint!("\r{count} customers");
            }
        })
        .await
        .map_err(|e| Failed::because("listing Stripe's customers failed", &e))?;
    let mut all = Vec::with_capacity(listed.len());
    for item in listed {
        let id = StripeCustomerId::parse(&item.id)
            .map_err(|e| Failed(format!("Stripe listed a customer {:?}: {e}", item.id)))?;
        all.push(Customer {
            id,
            created: item.created,
            email: item.email.filter(|e| !e.is_empty()),
            metadata: item.metadata.unwrap_or_default().into_iter().collect(),
        });
    }
    if progress {
        eprintln!();
    }
    eprintln!("read {} customers", all.len());
    Ok(all)
}

/// The Clerk user of `customer`, or why there is none. Clerk being unavailable fails the whole run.
async fn match_user(
    clerk: &ClerkClient,
    by: By,
    customer: &Customer,
) -> Result<Result<SubjectId, Outcome>, Failed> {
    let named: Vec<&String> = USER_KEYS
        .iter()
        .filter_map(|k| customer.metadata.get(*k))
        .collect();
    if named.windows(2).any(|w| w[0] != w[1]) {
        return Ok(Err(Outcome::Conflict(
            "metadata userId and clerkUserId name different users".into(),
        )));
    }
    match by {
        By::Metadata => {
            let Some(named) = named.first() else {
                return Ok(Err(Outcome::NoMatch(
                    "no userId or clerkUserId in its metadata".into(),
                )));
            };
            let Ok(user) = SubjectId::parse(named.as_str()) else {
                return Ok(Err(Outcome::NoMatch(format!(
                    "its metadata names {named:?}, not a Clerk user id"
                ))));
            };
            match clerk.user(&user).await {
                Ok(_) => Ok(Ok(user)),
                Err(ClerkError::Rejected { status: 404, .. }) => Ok(Err(Outcome::NoMatch(
                    format!("its metadata names {user}, whom Clerk does not know"),
                ))),
                Err(e) => Err(Failed::because(
                    format!("reading the Clerk user {user} failed"),
                    &e,
                )),
            }
        }
        By::Email => {
            let Some(email) = &customer.email else {
                return Ok(Err(Outcome::NoMatch("it has no email".into())));
            };
            let users = clerk.users_by_email(email).await.map_err(|e| {
                Failed::because(format!("finding the Clerk user of {email} failed"), &e)
            })?;
            let primary: Vec<&Value> = users
                .iter()
                .filter(|u| primary_email(u).is_some_and(|p| p.eq_ignore_ascii_case(email)))
                .collect();
            let user = match primary.as_slice() {
                [] => {
                    return Ok(Err(Outcome::NoMatch(format!(
                        "no Clerk user has the primary email {email}"
                    ))))
                }
                [one] => one["id"].as_str().and_then(|id| SubjectId::parse(id).ok()),
                _ => {
                    return Ok(Err(Outcome::Conflict(format!(
                        "{} Clerk users have the primary email {email}",
                        primary.len()
                    ))))
                }
            };
            let Some(user) = user else {
                return Ok(Err(Outcome::NoMatch(
                    "Clerk answered a user without an id".into(),
                )));
            };
            if let Some(other) = named.first().filter(|n| n.as_str() != user.as_str()) {
                return Ok(Err(Outcome::Conflict(format!(
                    "its email is {user}'s but its metadata names {other}"
                ))));
            }
            Ok(Ok(user))
        }
    }
}

fn primary_email(user: &Value) -> Option<&str> {
    let primary = user["primary_email_address_id"].as_str()?;
    user["email_addresses"]
        .as_array()?
        .iter()
        .find(|a| a["id"].as_str() == Some(primary))?["email_address"]
        .as_str()
}

/// Of several customers matched to one user, the one to link: the newest with a live subscription, else
/// the newest (ties: the greater id, so every run picks the same one).
async fn winner(
    stripe: &StripeClient,
    group: &[(Customer, SubjectId)],
) -> Result<(usize, &'static str), Failed> {
    let mut best: Option<(bool, i64, &str, usize)> = None;
    for (i, (customer, _)) in group.iter().enumerate() {
        let live = !stripe
            .live_subscriptions(&customer.id)
            .await
            .map_err(|e| {
                Failed(format!(
                    "reading the subscriptions of {} failed: {e}",
                    customer.id
                ))
            })?
            .is_empty();
        let rank = (live, customer.created, customer.id.as_str(), i);
        if best.is_none_or(|b| (rank.0, rank.1, rank.2) > (b.0, b.1, b.2)) {
            best = Some(rank);
        }
    }
    let (live, _, _, i) = best.expect("a group has customers");
    Ok((
        i,
        if live {
            "it has a live subscription"
        } else {
            "no live subscription: the newest"
        },
    ))
}

/// Links `customer` to `user` in the customers table (unless `apply` is false) and writes the metadata keys
/// it lacks, or says why not.
async fn link(
    directory: &DynamoCustomerDirectory,
    stripe: &StripeClient,
    customer: Customer,
    user: SubjectId,
    apply: bool,
    now: UnixTime,
) -> Result<Row, Failed> {
    let row = |outcome, metadata| Row {
        customer: customer.id.clone(),
        user: Some(user.clone()),
        outcome,
        metadata,
    };
    if let Some(other) = directory
        .user_for_customer(&customer.id)
        .await?
        .filter(|other| other != &user)
    {
        return Ok(row(
            Outcome::Conflict(format!("the customer is already linked to {other}")),
            Vec::new(),
        ));
    }
    let mut outcome = match classify(directory.get(&user).await?, &customer.id) {
        Some(outcome) => outcome,
        None if !apply => Outcome::Linked,
        None => {
            // The claim and the link `ensure_customer` makes: the first link of a user wins.
            if directory.claim_creation(&user, now, CREATION_LEASE).await? {
                match directory.link(&user, &customer.id, now).await {
                    Ok(()) => Outcome::Linked,
                    Err(e) => {
                        let _ = directory.release_creation(&user).await;
                        return Err(Failed(format!("linking {user} to {}: {e}", customer.id)));
                    }
                }
            } else {
                classify(directory.get(&user).await?, &customer.id).unwrap_or_else(|| {
                    Outcome::Conflict("the user's row changed while importing: run again".into())
                })
            }
        }
    };
    if matches!(outcome, Outcome::Conflict(_)) {
        return Ok(row(outcome, Vec::new()));
    }
    let missing: Vec<&'static str> = USER_KEYS
        .into_iter()
        .filter(|k| customer.metadata.get(*k).map(String::as_str) != Some(user.as_str()))
        .collect();
    if apply && !missing.is_empty() {
        let params: Vec<(String, String)> = missing
            .iter()
            .map(|k| (format!("metadata[{k}]"), user.to_string()))
            .collect();
        let params: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let path = format!(
            "/v1/customers/{}",
            entitle_core::stripe::client::path_segment(customer.id.as_str())
        );
        let key = format!("entitle-customers-import-{}-{user}", customer.id);
        if let Err(e) = stripe.post_form(&path, &params, &key).await {
            outcome = Outcome::Conflict(format!(
                "linked, but writing its metadata failed (run again): {e}"
            ));
        }
    }
    Ok(row(outcome, missing))
}

/// What the user's row says of linking it to `customer`: `None` when there is no row (link it).
fn classify(
    link: Option<entitle_domain::ports::CustomerLink>,
    customer: &StripeCustomerId,
) -> Option<Outcome> {
    let link = link?;
    Some(if link.deleted {
        Outcome::Conflict("the Clerk user was deleted".into())
    } else {
        match link.customer {
            Some(c) if &c == customer => Outcome::AlreadyLinked,
            Some(other) => Outcome::Conflict(format!("the user is already linked to {other}")),
            None => Outcome::Conflict(
                "a customer is being created for the user right now: run again".into(),
            ),
        }
    })
}

fn report(rows: &[Row], apply: bool, by: By, json_output: bool) {
    let word = |o: &Outcome| match o {
        Outcome::Linked if apply => "linked",
        Outcome::Linked => "would_link",
        Outcome::AlreadyLinked => "already_linked",
        Outcome::Conflict(_) => "conflict",
        Outcome::NoMatch(_) => "no_match",
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        *counts.entry(word(&row.outcome)).or_default() += 1;
    }
    if json_output {
        let customers: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "customer": r.customer.as_str(),
                    "userId": r.user.as_ref().map(SubjectId::as_str),
                    "outcome": word(&r.outcome),
                    "reason": match &r.outcome {
                        Outcome::Conflict(why) | Outcome::NoMatch(why) => Some(why.as_str()),
                        _ => None,
                    },
                    "metadata": r.metadata,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "apply": apply,
                "by": match by { By::Metadata => "metadata", By::Email => "email" },
                "customers": customers,
                "summary": counts,
            })
        );
        return;
    }
    for r in rows {
        let user = r.user.as_ref().map_or("-", SubjectId::as_str);
        let metadata = if r.metadata.is_empty() {
            String::new()
        } else {
            let verb = if apply { "wrote" } else { "would write" };
            format!(
                "; {verb} metadata {}",
                r.metadata
                    .iter()
                    .map(|k| format!("{k}={user}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let what = match &r.outcome {
            Outcome::Conflict(why) | Outcome::NoMatch(why) => {
                format!("{}: {why}", word(&r.outcome).replace('_', " "))
            }
            other => word(other).replace('_', " "),
        };
        println!("{} → {user}: {what}{metadata}", r.customer);
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    println!(
        "{} {}, {} already linked, {} conflicts, {} no match{}",
        count(if apply { "linked" } else { "would_link" }),
        if apply { "linked" } else { "to link" },
        count("already_linked"),
        count("conflict"),
        count("no_match"),
        if apply {
            ""
        } else {
            " (a dry run: --apply writes)"
        }
    );
}
