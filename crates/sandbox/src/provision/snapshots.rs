//! Flow C's resources (the CDK stacks' twins): customer-managed KMS keys in the three places
//! snapshots live, and the fleet database in primary, encrypted with one of them.

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_aws::AwsSession;
use dr_core::{Region, Side, Topology};
use serde_json::json;

use super::{Outcome, ProvisionError, Provisioned};

/// The fleet database's own key in primary's region.
pub const DATABASE_KEY_ALIAS: &str = "alias/fleetdb";

pub(super) async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<Provisioned>, ProvisionError> {
    let mut report = Vec::new();
    // Primary's key in the DR region re-encrypts the regional copy, and must let the DR
    // account decrypt it to make its own copy.
    let dr_root = format!("arn:aws:iam::{}:root", topology.dr.account_id);
    report.push(
        ensure_key(
            session,
            Side::Primary,
            &topology.dr.region,
            &topology.snapshots.regional_kms_key,
            Some(&dr_root),
            topology,
        )
        .await?,
    );
    report.push(
        ensure_key(
            session,
            Side::Dr,
            &topology.dr.region,
            &topology.snapshots.dr_kms_key,
            None,
            topology,
        )
        .await?,
    );
    report.push(
        ensure_key(
            session,
            Side::Primary,
            &topology.primary.region,
            DATABASE_KEY_ALIAS,
            None,
            topology,
        )
        .await?,
    );
    for (kind, policy) in topology.snapshot_policies() {
        if kind == dr_core::snapshots::DatabaseKind::Instance {
            report.push(ensure_instance(session, topology, &policy.database).await?);
        }
    }
    Ok(report)
}

async fn ensure_key(
    session: &AwsSession,
    side: Side,
    region: &Region,
    alias: &str,
    shared_with: Option<&str>,
    topology: &Topology,
) -> Result<Provisioned, ProvisionError> {
    let kms = session.kms_in(side, region);
    let owner = format!("arn:aws:iam::{}:root", topology.side(side).account_id);
    let mut statements = vec![json!({
        "Sid": "OwnerAdministersTheKey", "Effect": "Allow",
        "Principal": {"AWS": owner}, "Action": "kms:*", "Resource": "*"
    })];
    if let Some(account) = shared_with {
        statements.push(json!({
            "Sid": "DrCopiesSnapshotsEncryptedWithIt", "Effect": "Allow",
            "Principal": {"AWS": account},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"
        }));
    }
    let (arn, outcome) = super::kms::ensure_key(
        &kms,
        side,
        alias,
        "Encrypts fleet database snapshots (customer-managed: aws/rds cannot be shared)",
        json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
    )
    .await?;
    Ok(provisioned(side, arn, outcome))
}

/// An Aurora PostgreSQL cluster in primary, encrypted with the fleet database's
/// customer-managed key (no instances: snapshots and restores need none).
pub async fn ensure_cluster(
    session: &AwsSession,
    topology: &Topology,
    identifier: &str,
) -> Result<Provisioned, ProvisionError> {
    let rds = session.rds_in(Side::Primary, &topology.primary.region);
    let outcome = match rds
        .create_db_cluster()
        .db_cluster_identifier(identifier)
        .engine("aurora-postgresql")
        .master_username("fleet")
        .master_user_password("sandbox-only-not-a-secret")
        .storage_encrypted(true)
        .kms_key_id(DATABASE_KEY_ALIAS)
        .send()
        .await
    {
        Ok(_) => Outcome::Created,
        Err(e) if e.code() == Some("DBClusterAlreadyExistsFault") => Outcome::Existed,
        Err(e) => {
            return Err(ProvisionError::new(
                Side::Primary,
                format!("database cluster {identifier}"),
                DisplayErrorContext(e).to_string(),
            ))
        }
    };
    Ok(Provisioned {
        side: Side::Primary,
        kind: "rds cluster",
        id: identifier.to_owned(),
        outcome,
    })
}

/// The fleet database in primary: PostgreSQL, encrypted with its customer-managed key.
pub async fn ensure_instance(
    session: &AwsSession,
    topology: &Topology,
    identifier: &str,
) -> Result<Provisioned, ProvisionError> {
    let rds = session.rds_in(Side::Primary, &topology.primary.region);
    let error = |e: String| ProvisionError::new(Side::Primary, format!("database {identifier}"), e);
    let outcome = match rds
        .create_db_instance()
        .db_instance_identifier(identifier)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("fleet")
        // The sandbox's throwaway database: in the cloud the CDK stack lets RDS manage the
        // password in Secrets Manager.
        .master_user_password("sandbox-only-not-a-secret")
        .allocated_storage(20)
        // Automated backups on: point-in-time restore, and their replication into DR.
        .backup_retention_period(7)
        .storage_encrypted(true)
        .kms_key_id(DATABASE_KEY_ALIAS)
        .send()
        .await
    {
        Ok(_) => Outcome::Created,
        Err(e) if e.code() == Some("DBInstanceAlreadyExists") => Outcome::Existed,
        // Two provisioners at once: moto names the instance's first automated snapshot by
        // the minute, and the loser of that race sees this instead of "already exists".
        Err(e) if e.code() == Some("DBSnapshotAlreadyExists") => Outcome::Existed,
        Err(e) => return Err(error(DisplayErrorContext(e).to_string())),
    };
    Ok(Provisioned {
        side: Side::Primary,
        kind: "rds db",
        id: identifier.to_owned(),
        outcome,
    })
}

fn provisioned(side: Side, id: String, outcome: Outcome) -> Provisioned {
    Provisioned {
        side,
        kind: "kms key",
        id,
        outcome,
    }
}
