//! Usage and credits, the pure part: what kind each limit is, the period a metered counter belongs to, the
//! allow/refuse decision and the arithmetic of holds. No I/O here: the store behind
//! [`crate::ports::usage::UsageStore`] makes each change atomic; this module says what the change is.
pub mod account;
pub mod answer;
pub mod decision;
pub mod kind;
pub mod ledger;
pub mod member;
pub mod period;

pub use answer::{Bound, FeatureKind, LimitAnswer, MemberUsage, UsageLine, UsageReport};
pub use decision::{Change, Counter, Decision, Hold, Reason};
pub use kind::{LimitDecl, LimitKind, Period};
pub use period::Window;
