//! The application's network in DR, as the sandbox's stand-in for it: a VPC with two
//! subnets, the DB subnet group each protected database names (`subnet_group`), and a
//! security group per database; the same in primary's account in the DR region for the
//! databases whose backups RDS replicates there (`backup_replication.subnet_group`). In AWS these are the application's own (the CDK app only
//! references them); here provisioning makes them, so restores land in a network as they
//! must, not in a default VPC.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_aws::AwsSession;
use dr_core::{Side, Topology};

use super::{Outcome, ProvisionError, Provisioned};

/// The stand-in application VPC's `Name` tag and address range.
pub const VPC_NAME: &str = "iot-dr-app";
const VPC_CIDR: &str = "10.42.0.0/16";
const SUBNETS: [(&str, &str); 2] = [("a", "10.42.1.0/24"), ("b", "10.42.2.0/24")];

/// The security group the sandbox makes for `database`'s restores.
pub fn security_group_name(database: &str) -> String {
    format!("iot-dr-{database}-db")
}

/// One provisioning of the shared network at a time in this process: the sandbox's tests
/// provision their worlds concurrently, and describe-then-create would race (two VPCs of
/// one name, a subnet refused as a conflict with the one just made).
static NETWORK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(super) async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<Provisioned>, ProvisionError> {
    let _one_at_a_time = NETWORK.lock().await;
    let databases = &topology.snapshots.databases;
    // DR's account: where restores of the snapshot copies land.
    let mut report = provision_in(
        session,
        topology,
        Side::Dr,
        databases
            .iter()
            .filter_map(|db| {
                Some((
                    db.identifier.to_string(),
                    db.subnet_group.as_ref()?.to_string(),
                ))
            })
            .collect(),
    )
    .await?;
    // Primary's account in the DR region: where restores of replicated backups land.
    report.extend(
        provision_in(
            session,
            topology,
            Side::Primary,
            databases
                .iter()
                .filter_map(|db| {
                    let replication = db.backup_replication.as_ref()?;
                    Some((
                        db.identifier.to_string(),
                        replication.subnet_group.to_string(),
                    ))
                })
                .collect(),
        )
        .await?,
    );
    Ok(report)
}

/// The network in `side`'s account in the DR region, for `(database, subnet group)`s.
async fn provision_in(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
    groups: Vec<(String, String)>,
) -> Result<Vec<Provisioned>, ProvisionError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ec2 = aws_sdk_ec2::Client::new(&session.config_in(side, &topology.dr.region));
    let failed = |what: &str, e: String| ProvisionError::new(side, what, e);
    let provisioned = |kind, id, outcome| Provisioned {
        side,
        kind,
        id,
        outcome,
    };
    let mut report = Vec::new();
    let (vpc, outcome) = ensure_vpc(&ec2).await.map_err(|e| failed("vpc", e))?;
    report.push(provisioned(
        "vpc",
        format!("{vpc} ({VPC_NAME}, {VPC_CIDR}, {})", topology.dr.region),
        outcome,
    ));
    let mut subnets = Vec::new();
    for (zone, cidr) in SUBNETS {
        let az = format!("{}{zone}", topology.dr.region);
        let (subnet, outcome) = ensure_subnet(&ec2, &vpc, &az, cidr)
            .await
            .map_err(|e| failed("subnet", e))?;
        report.push(provisioned(
            "subnet",
            format!("{subnet} ({az}, {cidr})"),
            outcome,
        ));
        subnets.push(subnet);
    }
    let rds = session.rds_in(side, &topology.dr.region);
    for (database, group) in groups {
        let created = rds
            .create_db_subnet_group()
            .db_subnet_group_name(&group)
            .db_subnet_group_description(format!(
                "where restores of {database} land in {}",
                topology.dr.region
            ))
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await;
        let outcome = match created {
            Ok(_) => Outcome::Created,
            Err(e) if e.code() == Some("DBSubnetGroupAlreadyExists") => Outcome::Existed,
            Err(e) => {
                return Err(failed(
                    "db subnet group",
                    DisplayErrorContext(e).to_string(),
                ))
            }
        };
        report.push(provisioned("subnet grp", group, outcome));
        let (id, outcome) = ensure_security_group(&ec2, &vpc, &security_group_name(&database))
            .await
            .map_err(|e| failed("security group", e))?;
        report.push(provisioned(
            "sec group",
            format!("{id} ({})", security_group_name(&database)),
            outcome,
        ));
    }
    Ok(report)
}

/// The id of the security group the sandbox made for `database` (for a test's topology).
pub async fn security_group_id(
    session: &AwsSession,
    database: &str,
) -> Result<Option<String>, String> {
    let ec2 = aws_sdk_ec2::Client::new(session.config(Side::Dr));
    security_group_in(&ec2, database).await
}

/// The same in primary's account in the DR region (restores of replicated backups).
pub async fn replicated_restore_security_group_id(
    session: &AwsSession,
    topology: &Topology,
    database: &str,
) -> Result<Option<String>, String> {
    let ec2 = aws_sdk_ec2::Client::new(&session.config_in(Side::Primary, &topology.dr.region));
    security_group_in(&ec2, database).await
}

async fn security_group_in(
    ec2: &aws_sdk_ec2::Client,
    database: &str,
) -> Result<Option<String>, String> {
    let found = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(security_group_name(database))
                .build(),
        )
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    Ok(found
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(str::to_owned))
}

fn named(resource: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

async fn ensure_vpc(ec2: &aws_sdk_ec2::Client) -> Result<(String, Outcome), String> {
    let found = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:Name").values(VPC_NAME).build())
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    if let Some(id) = found.vpcs().first().and_then(|v| v.vpc_id()) {
        return Ok((id.to_owned(), Outcome::Existed));
    }
    let created = ec2
        .create_vpc()
        .cidr_block(VPC_CIDR)
        .tag_specifications(named(ResourceType::Vpc, VPC_NAME))
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    let id = created
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("no VPC id in the answer")?;
    Ok((id.to_owned(), Outcome::Created))
}

async fn ensure_subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    az: &str,
    cidr: &str,
) -> Result<(String, Outcome), String> {
    let found = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(Filter::builder().name("cidr-block").values(cidr).build())
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    if let Some(id) = found.subnets().first().and_then(|s| s.subnet_id()) {
        return Ok((id.to_owned(), Outcome::Existed));
    }
    let created = match ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(az)
        .send()
        .await
    {
        Ok(created) => created,
        // Another process made it between our read and our create: it is the one.
        Err(e) if e.code() == Some("InvalidSubnet.Conflict") => {
            let found = ec2
                .describe_subnets()
                .filters(Filter::builder().name("vpc-id").values(vpc).build())
                .filters(Filter::builder().name("cidr-block").values(cidr).build())
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e).to_string())?;
            return found
                .subnets()
                .first()
                .and_then(|s| s.subnet_id())
                .map(|id| (id.to_owned(), Outcome::Existed))
                .ok_or_else(|| {
                    format!(
                        "{cidr} conflicts with a subnet that cannot be found: {}",
                        DisplayErrorContext(e)
                    )
                });
        }
        Err(e) => return Err(DisplayErrorContext(e).to_string()),
    };
    let id = created
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or("no subnet id in the answer")?;
    Ok((id.to_owned(), Outcome::Created))
}

async fn ensure_security_group(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    name: &str,
) -> Result<(String, Outcome), String> {
    let found = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    if let Some(id) = found.security_groups().first().and_then(|g| g.group_id()) {
        return Ok((id.to_owned(), Outcome::Existed));
    }
    let created = ec2
        .create_security_group()
        .group_name(name)
        .description("The fleet database restored in DR: reachable from the application's VPC only")
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    let id = created
        .group_id()
        .ok_or("no security group id in the answer")?;
    Ok((id.to_owned(), Outcome::Created))
}
