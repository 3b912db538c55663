//! What a step must leave behind, checked against what the user would see: `GET /entitlements` (billing-api)
//! and the `public_metadata.billing` Clerk holds. Plus the one table line per step.
use serde_json::Value;

pub struct Expected {
    pub plan: &'static str,
    pub status: &'static str,
    pub credits: i64,
    /// RFC 3339, exactly; `None`: absent.
    pub period_end: Option<String>,
    /// RFC 3339, exactly; `None`: absent.
    pub grace_until: Option<String>,
    /// Whether the processor has mirrored the entitlements into Clerk yet (then plan, status and credits
    /// there must be the expected ones too).
    pub in_clerk: bool,
}

impl Expected {
    pub fn free(credits: i64, in_clerk: bool) -> Self {
        Self {
            plan: "free",
            status: "free",
            credits,
            period_end: None,
            grace_until: None,
            in_clerk,
        }
    }

    pub fn paid(plan: &'static str, status: &'static str, period_end: &str) -> Self {
        Self {
            plan,
            status,
            credits: 0,
            period_end: Some(period_end.to_owned()),
            grace_until: None,
            in_clerk: true,
        }
    }

    /// Every difference between this and what the API (`entitlements`) and Clerk (`clerk_user`) show.
    pub fn mismatches(&self, entitlements: &Value, clerk_user: Option<&Value>) -> Vec<String> {
        let mut wrong = Vec::new();
        let mut check = |what: &str, actual: &Value, expected: Value| {
            if *actual != expected {
                wrong.push(format!("{what} is {actual}, expected {expected}"));
            }
        };
        check("plan", &entitlements["plan"], self.plan.into());
        check("status", &entitlements["status"], self.status.into());
        check("credits", &entitlements["credits"], self.credits.into());
        check(
            "periodEnd",
            &entitlements["periodEnd"],
            self.period_end.clone().into(),
        );
        check(
            "graceUntil",
            &entitlements["graceUntil"],
            self.grace_until.clone().into(),
        );
        let Some(clerk_user) = clerk_user else {
            wrong.push("the user is missing from Clerk".to_owned());
            return wrong;
        };
        let billing = &clerk_user["public_metadata"]["billing"];
        if self.in_clerk {
            check("Clerk's billing.plan", &billing["plan"], self.plan.into());
            check(
                "Clerk's billing.status",
                &billing["status"],
                self.status.into(),
            );
            check(
                "Clerk's billing.credits",
                &billing["credits"],
                self.credits.into(),
            );
        } else {
            check("Clerk's billing", billing, Value::Null);
        }
        wrong
    }
}

pub fn header() {
    println!(
        "{:>2}  {:<22} {:<13} {:<10} {:>7}  {:<31} clerk",
        "#", "step", "plan", "status", "credits", "until"
    );
}

/// `1  sign up  free  free  0  -  -`: the line of step `label`, then what happened, indented.
pub fn row(
    label: &str,
    step: &str,
    entitlements: &Value,
    clerk_user: Option<&Value>,
    detail: &str,
) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let until = match (
        entitlements["graceUntil"].as_str(),
        entitlements["periodEnd"].as_str(),
    ) {
        (Some(grace), _) => format!("graceUntil {grace}"),
        (None, Some(end)) => format!("periodEnd  {end}"),
        (None, None) => "-".to_owned(),
    };
    let clerk = clerk_user.map_or("-".to_owned(), |u| {
        text(&u["public_metadata"]["billing"]["plan"])
    });
    println!(
        "{label:>2}  {step:<22} {:<13} {:<10} {:>7}  {until:<31} {clerk}",
        text(&entitlements["plan"]),
        text(&entitlements["status"]),
        entitlements["credits"]
            .as_i64()
            .map_or("-".to_owned(), |c| c.to_string()),
    );
    println!("    {detail}");
}
