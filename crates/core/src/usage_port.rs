//! The usage port: counters, holds and idempotency records, and the credits ledger. Every change is one
//! atomic, conditional write; a `Conflict` means "read again and decide again", never "applied".
