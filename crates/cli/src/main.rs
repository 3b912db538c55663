//! `entitle` — the operator CLI: the plan catalog checked and synced to Stripe, reconcile, the dead-letter
//! queue.
//!
//! ```text
//! entitle catalog check [--catalog PATH]
//! entitle catalog plan  [--catalog PATH] [--json]      exit 3 when Stripe differs from the catalog
//! entitle catalog apply [--catalog PATH] [--yes] [--json]
//! entitle reconcile USER_ID | --all [--after USER_ID | --fan-out]  [--stack NAME] [--json]
//! entitle dlq list    [--max N]                         [--stack NAME] [--json]
//! entitle dlq redrive [--max N]                         [--stack NAME] [--json]
//! entitle usage USER_ID                                 [--stack NAME] [--json]
//! entitle customer sync USER_ID                         [--stack NAME] [--json]
//! entitle customers import [--by metadata|email] [--apply] [--stack NAME] [--json]  exit 3 when a dry run finds changes
//! entitle setup [--dry-run | --apply] [--replace-key] [--catalog PATH] [--stack NAME] [--json]  exit 3 when a dry run finds changes
//! entitle user erase USER_ID [--apply] [--stripe]      [--stack NAME] [--json]  exit 3 when a dry run finds something
//! ```
//!
//! Every command also takes `--region REGION` and `--config-env ENV` (samconfig.toml's environment whose
//! `stack_name` and `region` are used; default `$SAM_CONFIG_ENV`, else `default`). The region: `--region`, else
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, else the environment's `region` in samconfig.toml, else the AWS
//! profile's.
//!
//! Stripe from `STRIPE_SECRET_KEY` (or `STRIPE_SECRET_KEY_ARN`, read from Secrets Manager) and
//! `STRIPE_API_BASE` (default `https://api.stripe.com`; the local stand-in under `make dev`). The catalog
//! from `--catalog`, else `PLAN_CATALOG`, else the built-in `config/plans.toml`. AWS resources from the
//! environment the functions read (`ENTITLEMENTS_TABLE`, `CUSTOMERS_TABLE`, `USAGE_TABLE`,
//! `BILLING_EVENTS_TOPIC_ARN`, `DEAD_LETTER_QUEUE_URL`), the missing ones from the outputs of the deployed
//! stack (`--stack NAME`, default: the `stack_name` of samconfig.toml's environment); reconcile and redrive also need
//! `CLERK_SECRET_KEY` (or `_ARN`).
//!
//! Exit codes: 0 done (or nothing to change), 1 failure, 2 bad usage, 3 `plan` found changes.
use clap::{Parser, Subcommand};
use entitle_core::stripe::StripeClient;
use entitle_domain::catalog_sync::SyncPlan;
use entitle_domain::plans::PlanCatalog;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

mod erase;
mod import;
mod ops;
mod samconfig;
mod setup;

#[derive(Parser)]
#[command(
    name = "entitle",
    version,
    about = "Operate Entitle: the plan catalog in Stripe"
)]
struct Cli {
    /// The AWS region of the stack (default: AWS_REGION or AWS_DEFAULT_REGION, else samconfig.toml's `region`
    /// of the environment, else the AWS profile's).
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,
    /// samconfig.toml's environment whose `stack_name` and `region` the commands use (default:
    /// $SAM_CONFIG_ENV, else `default`).
    #[arg(long, global = true, value_name = "ENV")]
    config_env: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The plan catalog: validate it, and make Stripe's products, prices and features match it.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Recompute entitlements from Stripe's current state, re-announcing what changed.
    Reconcile {
        /// The Clerk user to reconcile.
        #[arg(
            value_name = "USER_ID",
            required_unless_present = "all",
            conflicts_with = "all",
            value_parser = user_id
        )]
        user: Option<String>,
        /// Every user of the customers table, in user id order.
        #[arg(long)]
        all: bool,
        /// With --all: start after this user (resume an interrupted run).
        #[arg(long, value_name = "USER_ID", requires = "all")]
        after: Option<String>,
        /// With --all: hand the walk to the deployed processor through its queue (a page of users per
        /// message, reconciled in parallel, resumed by SQS) instead of reconciling here one by one.
        #[arg(long, requires = "all", conflicts_with = "after")]
        fan_out: bool,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// The dead-lettered billing events.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// The user's Stripe customer.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// The Stripe account's customers.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// What the deployed stack needs from Stripe: the webhook endpoint and its secret in the stack, the API
    /// keys given here stored in the stack's secrets, the billing portal from the catalog; then what to do in
    /// Clerk. A dry run unless --apply (exit 3 when it would change something).
    Setup {
        /// Make the changes (the default is a dry run).
        #[arg(long, conflicts_with = "dry_run")]
        apply: bool,
        /// Only show what would change (the default).
        #[arg(long)]
        dry_run: bool,
        /// Store the given STRIPE_SECRET_KEY even when the stack's secret holds a key of another kind
        /// (restricted rk_ vs full sk_, test vs live).
        #[arg(long)]
        replace_key: bool,
        #[command(flatten)]
        args: CatalogArgs,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// A Clerk user's data in Entitle.
    #[command(subcommand)]
    User(UserCommand),
    /// A user's limits and credits as usage-api's GET /v1/usage answers them.
    Usage {
        #[arg(value_name = "USER_ID", value_parser = user_id)]
        user: String,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// Why a subject has what it has (now, or at an instant): each limit's sum, each feature's plans, the
    /// status, and the event and Stripe items the version came from.
    Explain {
        #[arg(value_name = "SUBJECT", value_parser = user_id)]
        subject: String,
        /// Only this feature or limit.
        feature: Option<String>,
        /// An instant, RFC 3339 UTC (e.g. 2026-12-01T09:00:00Z); default now.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// A subject's entitlement versions between two instants, with what changed and why.
    History {
        #[arg(value_name = "SUBJECT", value_parser = user_id)]
        subject: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct StackArgs {
    /// The deployed stack whose outputs name the tables, topic and queue (default: the `stack_name` of
    /// samconfig.toml's environment, --config-env).
    #[arg(long, value_name = "NAME")]
    stack: Option<String>,
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Write the Clerk profile (email, name) to the user's Stripe customer again, making it when missing.
    Sync {
        #[arg(value_name = "USER_ID", value_parser = user_id)]
        user: String,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Erase the personal data Entitle holds for the user (the Clerk payloads kept for audit, the customers
    /// row's email and name; with --stripe the Stripe customer's name and email), keeping the user ↔ Stripe
    /// customer link and the billing records. A dry run (the plan) unless --apply (exit 3 when it would
    /// erase something).
    Erase {
        #[arg(value_name = "USER_ID", value_parser = user_id)]
        user: String,
        /// Erase (the default is to print the plan).
        #[arg(long)]
        apply: bool,
        /// Also clear the name and email of the user's Stripe customer.
        #[arg(long)]
        stripe: bool,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// Link the Stripe customers made before Entitle to their Clerk users: the customers table and the
    /// customer's missing metadata.userId. A dry run unless --apply (exit 3 when it would change something).
    Import {
        /// How a customer finds its Clerk user: its metadata userId / clerkUserId, or the Clerk user whose
        /// primary email is the customer's email.
        #[arg(long, value_enum, default_value_t = import::By::Metadata)]
        by: import::By,
        /// Write the links and the metadata (the default is a dry run).
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Show each dead-lettered event with its reason (nothing is removed).
    List {
        #[arg(long, default_value_t = 100)]
        max: usize,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// Apply each event again with the processor's code; remove it only once it applied.
    Redrive {
        #[arg(long, default_value_t = 100)]
        max: usize,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct CatalogArgs {
    /// A catalog file (default: $PLAN_CATALOG, else the built-in config/plans.toml).
    #[arg(long, value_name = "PATH")]
    catalog: Option<String>,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate the catalog.
    Check {
        #[command(flatten)]
        args: CatalogArgs,
    },
    /// Show what `apply` would change in Stripe (exit 3 when something would change).
    Plan {
        #[command(flatten)]
        args: CatalogArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make Stripe match the catalog: create, update, archive (never delete).
    Apply {
        #[command(flatten)]
        args: CatalogArgs,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// A USER_ID argument: a Clerk user id, refused as bad usage (exit 2) before anything is read.
fn user_id(value: &str) -> Result<String, String> {
    entitle_domain::ids::SubjectId::parse(value)
        .map(|_| value.to_owned())
        .map_err(|e| format!("{e} (a Clerk user id looks like user_2abc…)"))
}

/// A failure worth a message and exit code 1.
pub(crate) struct Failed(pub(crate) String);

impl Failed {
    /// `context: ` and the error with its causes.
    pub(crate) fn because(
        context: impl std::fmt::Display,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        Failed(format!("{context}: {}", describe(error)))
    }
}

/// The error and its causes, as one sentence ("Stripe is unavailable: … connection refused"), worded for an
/// operator: the functions' text for a missing variable speaks of their cold start.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    match error.downcast_ref::<entitle_core::config::ConfigError>() {
        Some(entitle_core::config::ConfigError::Missing(name)) => {
            format!("the environment variable {name} is not set (see Configuration in the README)")
        }
        _ => entitle_core::init::sentence(error),
    }
}

impl<E: std::error::Error + 'static> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(describe(&e))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    samconfig::choose_env(cli.config_env.as_deref());
    samconfig::apply_region(cli.region.as_deref());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Failed(message)) => {
            eprintln!("entitle: {message}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failed> {
    match cli.command {
        Command::Catalog(command) => catalog(command).await,
        Command::Reconcile {
            fan_out: true,
            stack,
            json,
            ..
        } => ops::reconcile_fan_out(stack.stack.as_deref(), json).await,
        Command::Reconcile {
            user,
            all,
            after,
            stack,
            json,
            ..
        } => ops::reconcile(stack.stack.as_deref(), user, all, after, json).await,
        Command::Dlq(DlqCommand::List { max, stack, json }) => {
            ops::dlq_list(stack.stack.as_deref(), max, json).await
        }
        Command::Dlq(DlqCommand::Redrive { max, stack, json }) => {
            ops::dlq_redrive(stack.stack.as_deref(), max, json).await
        }
        Command::Customer(CustomerCommand::Sync { user, stack, json }) => {
            ops::customer_sync(stack.stack.as_deref(), &user, json).await
        }
        Command::Customers(CustomersCommand::Import {
            by,
            apply,
            stack,
            json,
        }) => import::import(stack.stack.as_deref(), by, apply, json).await,
        Command::Setup {
            apply,
            dry_run: _,
            replace_key,
            args,
            stack,
            json,
        } => {
            let options = setup::Options {
                apply,
                replace_key,
                json,
            };
            setup::setup(stack.stack.as_deref(), &load(&args)?, options).await
        }
        Command::User(UserCommand::Erase {
            user,
            apply,
            stripe,
            stack,
            json,
        }) => {
            let options = erase::Options {
                apply,
                stripe,
                json,
            };
            erase::erase(stack.stack.as_deref(), &user, options).await
        }
        Command::Usage { user, stack, json } => {
            ops::usage(stack.stack.as_deref(), &user, json).await
        }
        Command::Explain {
            subject,
            feature,
            at,
            stack,
            json,
        } => {
            let query = ops::Explain {
                subject: &subject,
                feature: feature.as_deref(),
                at: at.as_deref(),
            };
            ops::explain(stack.stack.as_deref(), query, json).await
        }
        Command::History {
            subject,
            from,
            to,
            stack,
            json,
        } => {
            let window = (from.as_deref(), to.as_deref());
            ops::history(stack.stack.as_deref(), &subject, window, json).await
        }
    }
}

fn load(args: &CatalogArgs) -> Result<PlanCatalog, Failed> {
    let path = args
        .catalog
        .clone()
        .or_else(|| std::env::var(entitle_domain::plans::PLAN_CATALOG_ENV).ok())
        .filter(|p| !p.trim().is_empty());
    Ok(PlanCatalog::load(path.as_deref())?)
}

async fn stripe() -> Result<StripeClient, Failed> {
    ops::stripe_client(&entitle_core::config::aws().await).await
}

async fn catalog(command: CatalogCommand) -> Result<ExitCode, Failed> {
    match command {
        CatalogCommand::Check { args } => {
            let catalog = load(&args)?;
            println!(
                "the catalog is valid: {} plans, {} credit packs, {} limits",
                catalog.plans().len(),
                catalog.credit_packs().len(),
                catalog.limit_decls().len()
            );
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Plan { args, json } => {
            let catalog = load(&args)?;
            let client = stripe().await?;
            let plan = read_plan(&client, &catalog).await?.plan;
            show(&plan, json, false);
            Ok(if plan.actions.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        CatalogCommand::Apply { args, yes, json } => {
            let catalog = load(&args)?;
            let client = stripe().await?;
            let planned = read_plan(&client, &catalog).await?;
            let plan = &planned.plan;
            if plan.actions.is_empty() {
                show(plan, json, true);
                return Ok(ExitCode::SUCCESS);
            }
            if !yes {
                show(plan, false, false);
                if !std::io::stdin().is_terminal() {
                    eprintln!("entitle: not applied: pass --yes to apply without a terminal to confirm on");
                    return Ok(ExitCode::from(2));
                }
                eprint!(
                    "apply these {} changes to Stripe? [y/N] ",
                    plan.actions.len()
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("entitle: nothing applied");
                    return Ok(ExitCode::from(1));
                }
            }
            let total = entitle_app::catalog::apply(&client, &planned, |n, action| {
                if !json {
                    println!(
                        "[{}/{}] {}",
                        n + 1,
                        planned.plan.actions.len(),
                        action.describe()
                    );
                }
            })
            .await
            .map_err(|e| Failed(e.to_string()))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"applied": plan.actions, "unmanaged": plan.unmanaged})
                );
            } else {
                println!("applied {total} changes");
                unmanaged(plan);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn read_plan(
    client: &StripeClient,
    catalog: &PlanCatalog,
) -> Result<entitle_app::catalog::Planned, Failed> {
    eprintln!("reading Stripe's products, prices, Entitlements features and billing meters…");
    let planned = entitle_app::catalog::plan(client, catalog)
        .await
        .map_err(|e| Failed::because("reading Stripe failed", &e))?;
    let remote = &planned.remote;
    eprintln!(
        "read {} products, {} prices, {} features, {} meters",
        remote.products.len(),
        remote.prices.len(),
        remote.features.len(),
        remote.meters.len()
    );
    Ok(planned)
}

fn show(plan: &SyncPlan, json: bool, applying: bool) {
    if json {
        println!("{}", serde_json::to_string(plan).unwrap_or_default());
        return;
    }
    if plan.actions.is_empty() {
        println!("Stripe matches the catalog: no changes");
    } else {
        let verb = if applying { "applying" } else { "would change" };
        println!("{} changes ({verb}):", plan.actions.len());
        for action in &plan.actions {
            println!("  {}", action.describe());
        }
    }
    unmanaged(plan);
}

fn unmanaged(plan: &SyncPlan) {
    for u in &plan.unmanaged {
        println!("  (left alone) {} price {}: {}", u.owner, u.price, u.reason);
    }
}
