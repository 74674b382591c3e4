//! The application's network in DR, as the sandbox's stand-in for it: a VPC with two
//! subnets, the DB subnet group each protected database names (`subnet_group`), and a
//! security group per database; the same in primary's account in the DR region for the
//! databases whose backups RDS replicates there (`backup_replication.subnet_group`). In
//! AWS these are the application's own (the CDK app only references them); here
//! provisioning makes them, so restores land in a network as they must, not in a default
//! VPC. EC2 is called through `provision::ec2`'s small Query client, not the SDK's EC2
//! crate (see there why); the subnet groups through the SDK's RDS client.

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_aws::AwsSession;
use dr_core::{Side, Topology};

use super::ec2::{Ec2, Ec2Error};
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
    let failed = |what: &str, e: Ec2Error| ProvisionError::new(side, what, e);
    let ec2 = Ec2::new(&session.config_in(side, &topology.dr.region))
        .await
        .map_err(|e| failed("network", e))?;
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
                return Err(ProvisionError::new(
                    side,
                    "db subnet group",
                    DisplayErrorContext(e),
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
    security_group_in(session.config(Side::Dr), database)
        .await
        .map_err(|e| e.to_string())
}

/// The same in primary's account in the DR region (restores of replicated backups).
pub async fn replicated_restore_security_group_id(
    session: &AwsSession,
    topology: &Topology,
    database: &str,
) -> Result<Option<String>, String> {
    security_group_in(
        &session.config_in(Side::Primary, &topology.dr.region),
        database,
    )
    .await
    .map_err(|e| e.to_string())
}

async fn security_group_in(
    config: &aws_types::SdkConfig,
    database: &str,
) -> Result<Option<String>, Ec2Error> {
    let name = security_group_name(database);
    Ec2::new(config)
        .await?
        .call(
            "DescribeSecurityGroups",
            &[("Filter.1.Name", "group-name"), ("Filter.1.Value.1", &name)],
        )
        .await?
        .first(&["securityGroupInfo", "item", "groupId"])
}

async fn ensure_vpc(ec2: &Ec2) -> Result<(String, Outcome), Ec2Error> {
    let found = ec2
        .call(
            "DescribeVpcs",
            &[
                ("Filter.1.Name", "tag:Name"),
                ("Filter.1.Value.1", VPC_NAME),
            ],
        )
        .await?;
    if let Some(id) = found.first(&["vpcSet", "item", "vpcId"])? {
        return Ok((id, Outcome::Existed));
    }
    let created = ec2
        .call(
            "CreateVpc",
            &[
                ("CidrBlock", VPC_CIDR),
                ("TagSpecification.1.ResourceType", "vpc"),
                ("TagSpecification.1.Tag.1.Key", "Name"),
                ("TagSpecification.1.Tag.1.Value", VPC_NAME),
            ],
        )
        .await?;
    Ok((created.require(&["vpc", "vpcId"])?, Outcome::Created))
}

async fn ensure_subnet(
    ec2: &Ec2,
    vpc: &str,
    az: &str,
    cidr: &str,
) -> Result<(String, Outcome), Ec2Error> {
    let find = || async {
        ec2.call(
            "DescribeSubnets",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", vpc),
                ("Filter.2.Name", "cidr-block"),
                ("Filter.2.Value.1", cidr),
            ],
        )
        .await?
        .first(&["subnetSet", "item", "subnetId"])
    };
    if let Some(id) = find().await? {
        return Ok((id, Outcome::Existed));
    }
    let created = ec2
        .call(
            "CreateSubnet",
            &[
                ("VpcId", vpc),
                ("CidrBlock", cidr),
                ("AvailabilityZone", az),
            ],
        )
        .await;
    match created {
        Ok(created) => Ok((created.require(&["subnet", "subnetId"])?, Outcome::Created)),
        // Another process made it between our read and our create: it is the one.
        Err(e) if e.code() == Some("InvalidSubnet.Conflict") => match find().await? {
            Some(id) => Ok((id, Outcome::Existed)),
            None => Err(Ec2Error::Answer(format!(
                "{cidr} conflicts with a subnet that cannot be found: {e}"
            ))),
        },
        Err(e) => Err(e),
    }
}

async fn ensure_security_group(
    ec2: &Ec2,
    vpc: &str,
    name: &str,
) -> Result<(String, Outcome), Ec2Error> {
    let found = ec2
        .call(
            "DescribeSecurityGroups",
            &[
                ("Filter.1.Name", "group-name"),
                ("Filter.1.Value.1", name),
                ("Filter.2.Name", "vpc-id"),
                ("Filter.2.Value.1", vpc),
            ],
        )
        .await?;
    if let Some(id) = found.first(&["securityGroupInfo", "item", "groupId"])? {
        return Ok((id, Outcome::Existed));
    }
    let created = ec2
        .call(
            "CreateSecurityGroup",
            &[
                ("GroupName", name),
                (
                    "GroupDescription",
                    "The fleet database restored in DR: reachable from the application's VPC only",
                ),
                ("VpcId", vpc),
            ],
        )
        .await?;
    Ok((created.require(&["groupId"])?, Outcome::Created))
}
