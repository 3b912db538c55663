//! The lookup keys of metered overage prices and the meters' event names.
use super::*;
use crate::plans::{meter_event_name, Interval, Overage};

#[test]
fn a_metered_limit_may_declare_overage_billed_per_interval_of_the_plan() {
    let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"USD\" }");
    let catalog = PlanCatalog::parse(&text).unwrap();
    let starter = catalog.plan("starter").unwrap();
    assert_eq!(
        starter.overage["messages"],
        Overage {
            unit_amount: 1,
            per: 100,
            currency: "usd".into()
        }
    );
    let prices: Vec<(String, Interval)> = starter
        .overage_prices()
        .into_iter()
        .map(|p| (p.lookup_key, p.interval))
        .collect();
    assert_eq!(
        prices,
        [
            ("starter_messages_overage_month".to_owned(), Interval::Month),
            ("starter_messages_overage_year".to_owned(), Interval::Year),
        ],
        "one metered price per interval the plan sells"
    );
    assert_eq!(meter_event_name("messages"), "entitle_messages");
    assert!(catalog.plan("free").unwrap().overage.is_empty());
    let json = serde_json::to_value(catalog.plan("free").unwrap()).unwrap();
    assert!(json.get("overage").is_none(), "no overage, no key: {json}");
}
