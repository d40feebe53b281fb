//! An atomic counting semaphore in one DynamoDB item: `active` counts the holders in the
//! `holders` map (holder -> lease expiry, unix seconds). Every change is one conditional
//! update, so concurrent consumers never overshoot the limit; expired leases are reclaimed
//! one by one, each with a condition on its own expiry, so a lost slot heals exactly once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{conditional, conditional_failed, n, sdk_error};
use crate::ports::{Semaphore, SlotGrant};
use crate::timefmt::unix_now;
use crate::Result;

pub const PK: &str = "name";

#[derive(Clone)]
pub struct DynamoSemaphore {
    client: Client,
    table: String,
    name: String,
    limit: u32,
}

/// Holders whose lease ended before `now`.
pub fn expired(holders: &HashMap<String, i64>, now: i64) -> Vec<(String, i64)> {
    let mut v: Vec<_> = holders
        .iter()
        .filter(|(_, exp)| **exp < now)
        .map(|(h, e)| (h.clone(), *e))
        .collect();
    v.sort();
    v
}

impl DynamoSemaphore {
    pub fn new(client: Client, table: impl Into<String>, name: impl Into<String>, limit: u32) -> Self {
        DynamoSemaphore {
            client,
            table: table.into(),
            name: name.into(),
            limit,
        }
    }

    /// The item must exist with an empty map before map entries can be set.
    async fn ensure(&self) -> Result<()> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(self.name.clone()))
            .item("active", n(0))
            .item("holders", AttributeValue::M(HashMap::new()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        conditional(res).map(drop)
    }

    async fn holders(&self) -> Result<Option<HashMap<String, i64>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(self.name.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item.map(|item| {
            item.get("holders")
                .and_then(|h| h.as_m().ok())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn try_acquire(&self, holder: &str, lease_until: i64) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(self.name.clone()))
            .update_expression("SET holders.#h = :exp ADD active :one")
            .condition_expression("attribute_exists(holders) AND active < :limit AND attribute_not_exists(holders.#h)")
            .expression_attribute_names("#h", holder)
            .expression_attribute_values(":exp", n(lease_until))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(self.limit as i64))
            .send()
            .await;
        conditional(res)
    }

    /// Removes a holder if its entry still has the expiry we saw.
    async fn remove(&self, holder: &str, seen_expiry: Option<i64>) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(self.name.clone()))
            .update_expression("REMOVE holders.#h ADD active :minus")
            .expression_attribute_names("#h", holder)
            .expression_attribute_values(":minus", n(-1));
        req = match seen_expiry {
            Some(exp) => req
                .condition_expression("holders.#h = :exp")
                .expression_attribute_values(":exp", n(exp)),
            None => req.condition_expression("attribute_exists(holders.#h)"),
        };
        conditional(req.send().await)
    }
}

impl Semaphore for DynamoSemaphore {
    async fn acquire(&self, holder: &str, lease_until: i64) -> Result<SlotGrant> {
        if self.try_acquire(holder, lease_until).await? {
            return Ok(SlotGrant::Granted);
        }
        let Some(holders) = self.holders().await? else {
            self.ensure().await?;
            return Ok(if self.try_acquire(holder, lease_until).await? {
                SlotGrant::Granted
            } else {
                SlotGrant::Full
            });
        };
        if holders.contains_key(holder) {
            self.extend(holder, lease_until).await?;
            return Ok(SlotGrant::AlreadyHeld);
        }
        let stale = expired(&holders, unix_now());
        if stale.is_empty() {
            return Ok(SlotGrant::Full);
        }
        for (h, exp) in stale {
            if self.remove(&h, Some(exp)).await? {
                tracing::warn!(holder = %h, expired_at = exp, "reclaimed an expired concurrency slot");
            }
        }
        Ok(if self.try_acquire(holder, lease_until).await? {
            SlotGrant::Granted
        } else {
            SlotGrant::Full
        })
    }

    async fn extend(&self, holder: &str, lease_until: i64) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(self.name.clone()))
            .update_expression("SET holders.#h = :exp")
            .condition_expression("attribute_exists(holders.#h)")
            .expression_attribute_names("#h", holder)
            .expression_attribute_values(":exp", n(lease_until))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Err(crate::Error::retryable(
                "semaphore",
                "the slot's lease was lost before it could be extended",
            )),
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn release(&self, holder: &str) -> Result<bool> {
        self.remove(holder, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_past_leases_are_reclaimed() {
        let holders: HashMap<String, i64> = [("a".into(), 100), ("b".into(), 200), ("c".into(), 99)].into();
        assert_eq!(expired(&holders, 150), [("a".to_string(), 100), ("c".to_string(), 99)]);
        assert!(expired(&holders, 99).is_empty());
    }
}
