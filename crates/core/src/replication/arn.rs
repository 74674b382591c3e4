//! Rewriting the account and region inside policy documents for DR.
//!
//! A policy in primary names primary's resources (`arn:aws:iot:us-east-1:111111111111:client/…`).
//! In DR the same policy must name DR's. Blind string replacement would also rewrite a
//! client id or topic that merely contains the digits, so we parse the document, visit every
//! string, and rewrite only those that *are* ARNs, only in the region and account fields, and
//! only where they equal primary's. Wildcards (`*`) and policy variables are left alone.

use crate::ids::{AccountId, Region};

/// Primary's account and region mapped to DR's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnRewrite {
    from_account: AccountId,
    from_region: Region,
    to_account: AccountId,
    to_region: Region,
}

impl ArnRewrite {
    /// `policy` as DR must hold it: its document's ARNs rewritten.
    pub fn policy(
        &self,
        policy: &crate::replication::records::PolicyRecord,
    ) -> Result<crate::replication::records::PolicyRecord, String> {
        Ok(crate::replication::records::PolicyRecord {
            policy_name: policy.policy_name.clone(),
            document: self.rewrite_document(&policy.document)?,
        })
    }

    /// Rewrite ARNs of `from_account` in `from_region` to `to_account` in `to_region`.
    pub fn new(
        from_account: AccountId,
        from_region: Region,
        to_account: AccountId,
        to_region: Region,
    ) -> Self {
        Self {
            from_account,
            from_region,
            to_account,
            to_region,
        }
    }

    /// Primary's account and region to DR's, as the topology says.
    pub fn primary_to_dr(topology: &crate::Topology) -> Self {
        Self::new(
            topology.primary.account_id.clone(),
            topology.primary.region.clone(),
            topology.dr.account_id.clone(),
            topology.dr.region.clone(),
        )
    }

    /// The account and region ARNs are rewritten from.
    pub fn source(&self) -> (&AccountId, &Region) {
        (&self.from_account, &self.from_region)
    }

    /// The account and region ARNs are rewritten to.
    pub fn target(&self) -> (&AccountId, &Region) {
        (&self.to_account, &self.to_region)
    }

    /// The same mapping, the other way (for failback).
    pub fn reversed(&self) -> Self {
        Self::new(
            self.to_account.clone(),
            self.to_region.clone(),
            self.from_account.clone(),
            self.from_region.clone(),
        )
    }

    /// Rewrite one ARN; anything that is not an ARN comes back unchanged.
    pub fn rewrite_arn(&self, text: &str) -> String {
        let fields: Vec<&str> = text.splitn(6, ':').collect();
        if fields.len() != 6 || fields[0] != "arn" {
            return text.to_owned();
        }
        // Another account's resource stays exactly where it is: only primary's own ARNs
        // (and account wildcards) move to DR.
        let ours = matches!(fields[4], "" | "*") || fields[4] == self.from_account.as_str();
        if !ours {
            return text.to_owned();
        }
        let region = if fields[3] == self.from_region.as_str() {
            self.to_region.as_str()
        } else {
            fields[3]
        };
        let account = if fields[4] == self.from_account.as_str() {
            self.to_account.as_str()
        } else {
            fields[4]
        };
        format!(
            "arn:{}:{}:{region}:{account}:{}",
            fields[1], fields[2], fields[5]
        )
    }

    /// Rewrite every ARN in a JSON policy document; the result is compact JSON.
    pub fn rewrite_document(&self, document: &str) -> Result<String, String> {
        let mut value: serde_json::Value = serde_json::from_str(document)
            .map_err(|e| format!("policy document is not JSON: {e}"))?;
        self.rewrite_value(&mut value);
        Ok(value.to_string())
    }

    fn rewrite_value(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => *text = self.rewrite_arn(text),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite_value(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.rewrite_value(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary_to_dr() -> ArnRewrite {
        ArnRewrite::new(
            "111111111111".parse().unwrap(),
            "us-east-1".parse().unwrap(),
            "222222222222".parse().unwrap(),
            "us-west-2".parse().unwrap(),
        )
    }

    #[test]
    fn only_arn_fields_are_rewritten() {
        let document = r#"{
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": ["iot:Connect", "iot:Publish"],
                "Resource": [
                    "arn:aws:iot:us-east-1:111111111111:client/${iot:Connection.Thing.ThingName}",
                    "arn:aws:iot:us-east-1:111111111111:topic/alerts/111111111111/us-east-1",
                    "arn:aws:iot:*:111111111111:topic/any-region",
                    "arn:aws:iot:us-east-1:333333333333:topic/someone-else"
                ],
                "Condition": {"StringEquals": {"iot:ClientId": "111111111111"}}
            }]
        }"#;
        let rewritten: serde_json::Value =
            serde_json::from_str(&primary_to_dr().rewrite_document(document).unwrap()).unwrap();
        let resources = &rewritten["Statement"][0]["Resource"];
        assert_eq!(
            resources[0],
            "arn:aws:iot:us-west-2:222222222222:client/${iot:Connection.Thing.ThingName}"
        );
        // The topic name keeps primary's digits and region: it is data, not an ARN field.
        assert_eq!(
            resources[1],
            "arn:aws:iot:us-west-2:222222222222:topic/alerts/111111111111/us-east-1"
        );
        assert_eq!(resources[2], "arn:aws:iot:*:222222222222:topic/any-region");
        // Someone else's resource is not ours to move.
        assert_eq!(
            resources[3],
            "arn:aws:iot:us-east-1:333333333333:topic/someone-else"
        );
        assert_eq!(
            rewritten["Statement"][0]["Condition"]["StringEquals"]["iot:ClientId"],
            "111111111111"
        );
    }

    #[test]
    fn rewriting_there_and_back_is_the_identity_on_arns() {
        let arn = "arn:aws:iot:us-east-1:111111111111:thing/wearable-7";
        let rewrite = primary_to_dr();
        assert_eq!(
            rewrite.reversed().rewrite_arn(&rewrite.rewrite_arn(arn)),
            arn
        );
        assert_eq!(rewrite.rewrite_arn("not-an-arn"), "not-an-arn");
        assert!(rewrite.rewrite_document("[").is_err());
    }
}
