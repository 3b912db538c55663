//! `CustomerDirectory` on DynamoDB. Item: `userId` (key), `status` (`pending` while a creation holds the
//! claim, then `linked`), `stripeCustomerId` (GSI `byStripeCustomer`), `leaseUntil`, `email`, `name` (the
//! profile last written to Stripe), `createdAt`, `linkedAt`, `deletedAt` (present once the user is deleted).
use super::dynamo::{conditional_failed, n, s, scan_user_ids, text};
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{CustomerDirectory, CustomerLink, CustomerProfile, StoreError};
use entitle_domain::time::UnixTime;
use std::collections::HashMap;
use std::time::Duration;

pub const BY_STRIPE_CUSTOMER: &str = "byStripeCustomer";

pub struct DynamoCustomerDirectory {
    client: Client,
    table: String,
}

impl DynamoCustomerDirectory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl CustomerDirectory for DynamoCustomerDirectory {
    async fn get(&self, user: &SubjectId) -> Result<Option<CustomerLink>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("read customer", sdk_error(e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let customer = text(&item, "stripeCustomerId")
            .map(StripeCustomerId::parse)
            .transpose()
            .map_err(|e| StoreError::new("read customer", e))?;
        Ok(Some(CustomerLink {
            user: user.clone(),
            customer,
            profile: CustomerProfile {
                email: text(&item, "email"),
                name: text(&item, "name"),
            },
            deleted: item.contains_key("deletedAt"),
        }))
    }

    async fn claim_creation(
        &self,
        user: &SubjectId,
        now: UnixTime,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("userId", s(user.as_str()))
            .item("status", s("pending"))
            .item("leaseUntil", n(now.plus(lease).secs()))
            .item("createdAt", n(now.secs()))
            .condition_expression(
                "attribute_not_exists(userId) OR (#status = :pending AND leaseUntil < :now \
                 AND attribute_not_exists(stripeCustomerId) AND attribute_not_exists(deletedAt))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now.secs()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(StoreError::new("claim customer creation", sdk_error(e))),
        }
    }

    async fn release_creation(&self, user: &SubjectId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .condition_expression(
                "#status = :pending AND attribute_not_exists(stripeCustomerId) AND attribute_not_exists(deletedAt)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(()),
            Err(e) => Err(StoreError::new("release customer claim", sdk_error(e))),
        }
    }

    async fn link(
        &self,
        user: &SubjectId,
        customer: &StripeCustomerId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // Never re-point a user at another customer: the first link wins.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .update_expression(
                "SET stripeCustomerId = :c, #status = :linked, linkedAt = :now REMOVE leaseUntil",
            )
            .condition_expression("attribute_not_exists(stripeCustomerId) OR stripeCustomerId = :c")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":c", s(customer.as_str()))
            .expression_attribute_values(":linked", s("linked"))
            .expression_attribute_values(":now", n(now.secs()))
            .send()
            .await
            .map_err(|e| StoreError::new("link customer", sdk_error(e)))?;
        Ok(())
    }

    async fn save_profile(
        &self,
        user: &SubjectId,
        profile: &CustomerProfile,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut set = vec!["updatedAt = :now"];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_names("#name", "name")
            .condition_expression("attribute_exists(userId)");
        match &profile.email {
            Some(email) => {
                set.push("email = :email");
                request = request.expression_attribute_values(":email", s(email));
            }
            None => remove.push("email"),
        }
        match &profile.name {
            Some(name) => {
                set.push("#name = :name");
                request = request.expression_attribute_values(":name", s(name));
            }
            None => remove.push("#name"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(|e| StoreError::new("save customer profile", sdk_error(e)))?;
        Ok(())
    }

    async fn mark_deleted(&self, user: &SubjectId, now: UnixTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .update_expression("SET deletedAt = if_not_exists(deletedAt, :now)")
            .expression_attribute_values(":now", n(now.secs()))
            .send()
            .await
            .map_err(|e| StoreError::new("mark user deleted", sdk_error(e)))?;
        Ok(())
    }

    async fn all_users(&self) -> Result<Vec<SubjectId>, StoreError> {
        scan_user_ids(|| self.client.scan().table_name(&self.table), "list users").await
    }

    async fn users_page(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<(Vec<SubjectId>, Option<SubjectId>), StoreError> {
        let start = after.map(|user| HashMap::from([("userId".to_owned(), s(user.as_str()))]));
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression("userId")
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::new("list users", sdk_error(e)))?;
        let users = out
            .items()
            .iter()
            .filter_map(|item| text(item, "userId"))
            .filter_map(|u| SubjectId::parse(u).ok())
            .collect();
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|key| text(key, "userId"))
            .and_then(|u| SubjectId::parse(u).ok());
        Ok((users, next))
    }

    async fn user_for_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_STRIPE_CUSTOMER)
            .key_condition_expression("stripeCustomerId = :c")
            .expression_attribute_values(":c", s(customer.as_str()))
            .limit(1)
            .send()
            .await
            .map_err(|e| StoreError::new("find user by customer", sdk_error(e)))?;
        out.items()
            .first()
            .and_then(|item| text(item, "userId"))
            .map(SubjectId::parse)
            .transpose()
            .map_err(|e| StoreError::new("find user by customer", e))
    }
}
