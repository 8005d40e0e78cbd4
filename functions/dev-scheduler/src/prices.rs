//! What a resource costs an hour, from AWS's own prices: the Price List API (`GetProducts`, in
//! us-east-1), one product per price key, its on-demand price per unit. Pure here (keys, filters,
//! the answer's parse, the cache's rule, Fargate's rounding); the calls are in `handler::savings`.
//!
//! On-demand list prices only: Savings Plans, reserved instances, credits and the free tier are
//! not applied (the README says so beside every figure).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One price the ledger needs, in one region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PriceKey {
    /// An RDS instance hour (`Single-AZ` or `Multi-AZ`); an Aurora member instance hour.
    #[serde(rename_all = "camelCase")]
    Database {
        class: String,
        engine: String,
        multi_az: bool,
        region: String,
    },
    /// A Linux on-demand EC2 instance hour (a managed node group's nodes).
    #[serde(rename_all = "camelCase")]
    Ec2 {
        instance_type: String,
        region: String,
    },
    /// Fargate (EKS): a vCPU hour.
    FargateVcpu { region: String },
    /// Fargate (EKS): a GB hour.
    FargateGb { region: String },
    /// An EKS cluster's control plane hour.
    EksCluster { region: String },
    /// A NAT gateway hour (data processed is not counted).
    NatGateway { region: String },
    /// A load balancer hour (`application` / `network`; capacity units are not counted).
    #[serde(rename_all = "camelCase")]
    LoadBalancer { lb_type: String, region: String },
    /// An interface VPC endpoint hour, per Availability Zone.
    VpcEndpoint { region: String },
    /// RDS storage, per GB-month (`gp2`, `gp3`, `io1` ...; Single-AZ or Multi-AZ).
    #[serde(rename_all = "camelCase")]
    DbStorage {
        storage_type: String,
        engine: String,
        multi_az: bool,
        region: String,
    },
}

/// A `GetProducts` query: the service code and its `TERM_MATCH` filters; the unit of the price
/// dimension wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub service: &'static str,
    pub filters: Vec<(&'static str, String)>,
    pub unit: &'static str,
}

/// The Price List's name of an RDS engine.
fn engine_name(engine: &str) -> Option<&'static str> {
    Some(match engine {
        "postgres" => "PostgreSQL",
        "aurora-postgresql" => "Aurora PostgreSQL",
        "mysql" => "MySQL",
        "aurora-mysql" => "Aurora MySQL",
        "mariadb" => "MariaDB",
        _ => return None,
    })
}

/// The Price List's name of an RDS storage type.
fn volume_name(storage_type: &str) -> Option<&'static str> {
    Some(match storage_type {
        "gp2" => "General Purpose",
        "gp3" => "General Purpose-GP3",
        "io1" => "Provisioned IOPS",
        "io2" => "Provisioned IOPS-IO2",
        "standard" => "Magnetic",
        _ => return None,
    })
}

impl PriceKey {
    /// The query that finds exactly this price; `None` for what the Price List cannot name (an
    /// engine or storage type it has no word for): "price unknown", never a guess.
    pub fn query(&self) -> Option<Query> {
        let az = |multi: bool| if multi { "Multi-AZ" } else { "Single-AZ" }.to_owned();
        Some(match self {
            PriceKey::Database {
                class,
                engine,
                multi_az,
                region,
            } => Query {
                service: "AmazonRDS",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("instanceType", class.clone()),
                    ("databaseEngine", engine_name(engine)?.to_owned()),
                    // Aurora prices each member instance; its deploymentOption is Single-AZ.
                    (
                        "deploymentOption",
                        az(*multi_az && !engine.starts_with("aurora")),
                    ),
                ],
                unit: "Hrs",
            },
            PriceKey::Ec2 {
                instance_type,
                region,
            } => Query {
                service: "AmazonEC2",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("instanceType", instance_type.clone()),
                    ("operatingSystem", "Linux".into()),
                    ("tenancy", "Shared".into()),
                    ("preInstalledSw", "NA".into()),
                    ("capacitystatus", "Used".into()),
                ],
                unit: "Hrs",
            },
            PriceKey::FargateVcpu { region } => Query {
                service: "AmazonEKS",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "Compute".into()),
                    ("cputype", "perCPU".into()),
                ],
                unit: "hours",
            },
            PriceKey::FargateGb { region } => Query {
                service: "AmazonEKS",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "Compute".into()),
                    ("memorytype", "perGB".into()),
                ],
                unit: "GB-Hours",
            },
            PriceKey::EksCluster { region } => Query {
                service: "AmazonEKS",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "Compute".into()),
                    ("operation", "CreateOperation".into()),
                ],
                unit: "Hours",
            },
            PriceKey::NatGateway { region } => Query {
                service: "AmazonEC2",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "NAT Gateway".into()),
                    ("group", "NGW:NatGateway".into()),
                ],
                unit: "Hrs",
            },
            PriceKey::LoadBalancer { lb_type, region } => Query {
                service: "AWSELB",
                filters: vec![
                    ("regionCode", region.clone()),
                    (
                        "productFamily",
                        match lb_type.as_str() {
                            "application" => "Load Balancer-Application",
                            "network" => "Load Balancer-Network",
                            "gateway" => "Load Balancer-Gateway",
                            _ => return None,
                        }
                        .into(),
                    ),
                ],
                unit: "Hrs",
            },
            PriceKey::VpcEndpoint { region } => Query {
                service: "AmazonVPC",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "VpcEndpoint".into()),
                    ("endpointType", "PrivateLink".into()),
                ],
                unit: "Hrs",
            },
            PriceKey::DbStorage {
                storage_type,
                engine,
                multi_az,
                region,
            } => Query {
                service: "AmazonRDS",
                filters: vec![
                    ("regionCode", region.clone()),
                    ("productFamily", "Database Storage".into()),
                    ("volumeType", volume_name(storage_type)?.into()),
                    ("databaseEngine", engine_name(engine)?.into()),
                    ("deploymentOption", az(*multi_az)),
                ],
                unit: "GB-Mo",
            },
        })
    }

    /// How a person reads it: "db.t4g.small PostgreSQL Single-AZ".
    pub fn label(&self) -> String {
        match self {
            PriceKey::Database {
                class,
                engine,
                multi_az,
                ..
            } => format!(
                "{class} {} {}",
                engine_name(engine).unwrap_or(engine),
                if *multi_az { "Multi-AZ" } else { "Single-AZ" }
            ),
            PriceKey::Ec2 { instance_type, .. } => format!("{instance_type} Linux on-demand"),
            PriceKey::FargateVcpu { .. } => "Fargate vCPU-hour".into(),
            PriceKey::FargateGb { .. } => "Fargate GB-hour".into(),
            PriceKey::EksCluster { .. } => "EKS control plane".into(),
            PriceKey::NatGateway { .. } => "NAT gateway".into(),
            PriceKey::LoadBalancer { lb_type, .. } => format!("{lb_type} load balancer"),
            PriceKey::VpcEndpoint { .. } => "interface endpoint (per AZ)".into(),
            PriceKey::DbStorage { storage_type, .. } => format!("RDS {storage_type} storage"),
        }
    }

    /// What kind of thing bills by it, to group a list ("NAT gateway", "EKS control plane").
    pub fn group(&self) -> String {
        match self {
            PriceKey::VpcEndpoint { .. } => "interface endpoint".into(),
            PriceKey::DbStorage { .. } => "stopped database's storage".into(),
            other => other.label(),
        }
    }

    /// The key as the cache stores it.
    pub fn id(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A price as the Price List gave it: USD per unit, and the date it took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub usd: Decimal,
    pub unit: String,
    pub effective: String,
    /// When Caretaker read it.
    pub fetched: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct Product {
    terms: Terms,
}

#[derive(Debug, Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: BTreeMap<String, Term>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Term {
    #[serde(default)]
    effective_date: String,
    price_dimensions: BTreeMap<String, Dimension>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dimension {
    unit: String,
    #[serde(default)]
    begin_range: Option<String>,
    price_per_unit: BTreeMap<String, String>,
}

/// The on-demand price in `unit` of the products `GetProducts` answered (each a JSON document in
/// `PriceList`). More than one distinct price, or none, is no answer: a guess is never made.
pub fn parse(price_list: &[String], unit: &str, fetched: DateTime<Utc>) -> Result<Price, String> {
    let mut found: Vec<Price> = Vec::new();
    for doc in price_list {
        let p: Product = serde_json::from_str(doc)
            .map_err(|e| format!("a PriceList entry is not a product: {e}"))?;
        for term in p.terms.on_demand.values() {
            for d in term.price_dimensions.values() {
                // The first tier (tiered prices start at 0).
                let first_tier = d.begin_range.as_deref().is_none_or(|b| b == "0");
                if !d.unit.eq_ignore_ascii_case(unit) || !first_tier {
                    continue;
                }
                let Some(usd) = d.price_per_unit.get("USD") else {
                    continue;
                };
                let usd: Decimal = usd
                    .parse()
                    .map_err(|_| format!("price {usd:?} is not a number"))?;
                if usd.is_zero() {
                    continue;
                }
                found.push(Price {
                    usd: usd.normalize(),
                    unit: d.unit.clone(),
                    effective: term.effective_date.get(..10).unwrap_or("").to_owned(),
                    fetched,
                });
            }
        }
    }
    found.sort_by_key(|p| p.usd);
    found.dedup_by(|a, b| a.usd == b.usd);
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("no on-demand price per {unit} in the answer")),
        n => Err(format!("{n} different prices per {unit}: ambiguous")),
    }
}

/// Prices are read again after a week (AWS changes list prices rarely and says so ahead).
pub const REFRESH_AFTER_DAYS: i64 = 7;

/// What to do with a cached price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Younger than a week: use it, no call.
    Fresh,
    /// Older: ask the Price List again; if it cannot be reached, use this one and say so.
    Stale,
    /// None cached: ask.
    Missing,
}

pub fn freshness(cached: Option<&Price>, now: DateTime<Utc>) -> Freshness {
    match cached {
        None => Freshness::Missing,
        Some(p) if now - p.fetched < Duration::days(REFRESH_AFTER_DAYS) => Freshness::Fresh,
        Some(_) => Freshness::Stale,
    }
}

/// The Fargate size EKS bills a pod at: its requests (the sum of its containers'), plus 256 MB
/// for the Kubernetes components on the node, rounded up to the smallest vCPU and memory
/// combination Fargate offers
/// (https://docs.aws.amazon.com/eks/latest/userguide/fargate-pod-configuration.html).
/// `(vCPU, GB)`; `None` for a pod larger than Fargate's largest (16 vCPU, 120 GB).
pub fn fargate_size(cpu_millis: u64, memory_mib: u64) -> Option<(Decimal, Decimal)> {
    let memory_gb = Decimal::from(memory_mib + 256) / Decimal::from(1024);
    let cpu = Decimal::from(cpu_millis) / Decimal::from(1000);
    // (vCPU, the memory sizes in GB that go with it)
    let d = Decimal::from;
    let table: Vec<(Decimal, Vec<Decimal>)> = vec![
        (Decimal::new(25, 2), vec![Decimal::new(5, 1), d(1), d(2)]),
        (Decimal::new(5, 1), (1..=4).map(d).collect()),
        (d(1), (2..=8).map(d).collect()),
        (d(2), (4..=16).map(d).collect()),
        (d(4), (8..=30).map(d).collect()),
        (d(8), (4..=15).map(|x| d(x * 4)).collect()),
        (d(16), (4..=15).map(|x| d(x * 8)).collect()),
    ];
    table
        .into_iter()
        .filter(|(v, _)| *v >= cpu)
        .find_map(|(v, mems)| mems.into_iter().find(|m| *m >= memory_gb).map(|m| (v, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(unit: &str, usd: &str) -> String {
        serde_json::json!({
            "product": {"productFamily": "Database Instance", "attributes": {}},
            "serviceCode": "AmazonRDS",
            "terms": {"OnDemand": {"SKU.JRTCKXETXF": {
                "effectiveDate": "2026-11-01T00:00:00Z",
                "priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7": {
                    "unit": unit, "beginRange": "0", "endRange": "Inf",
                    "pricePerUnit": {"USD": usd}}}}}}
        })
        .to_string()
    }

    #[test]
    fn one_on_demand_price_in_the_unit_is_the_answer() {
        let now = Utc::now();
        let p = parse(&[product("Hrs", "0.0320000000")], "Hrs", now).unwrap();
        assert_eq!(p.usd, Decimal::new(32, 3));
        assert_eq!(p.effective, "2026-11-01");
        assert!(
            parse(&[], "Hrs", now)
                .unwrap_err()
                .contains("no on-demand price")
        );
        let two = [product("Hrs", "0.032"), product("Hrs", "0.064")];
        assert!(parse(&two, "Hrs", now).unwrap_err().contains("ambiguous"));
        assert!(parse(&[product("GB-Mo", "0.115")], "Hrs", now).is_err());
    }

    #[test]
    fn a_week_old_price_is_read_again() {
        let now = Utc::now();
        let at = |days| Price {
            usd: Decimal::ONE,
            unit: "Hrs".into(),
            effective: "2026-11-01".into(),
            fetched: now - Duration::days(days),
        };
        assert_eq!(freshness(None, now), Freshness::Missing);
        assert_eq!(freshness(Some(&at(6)), now), Freshness::Fresh);
        assert_eq!(freshness(Some(&at(7)), now), Freshness::Stale);
    }

    #[test]
    fn fargate_rounds_requests_plus_256_mb_up_to_an_offered_size() {
        let size = |c, m| fargate_size(c, m).unwrap();
        // 0.5 vCPU / 1 GB requested → 1.25 GB → 0.5 vCPU / 2 GB.
        assert_eq!(size(500, 1024), (Decimal::new(5, 1), Decimal::from(2)));
        // 0.25 vCPU / 0.5 GB → 0.75 GB → 0.25 vCPU / 1 GB.
        assert_eq!(size(250, 512), (Decimal::new(25, 2), Decimal::ONE));
        // Nothing requested: the smallest, 0.25 vCPU / 0.5 GB.
        assert_eq!(size(0, 0), (Decimal::new(25, 2), Decimal::new(5, 1)));
        // 0.25 vCPU with 3 GB: no 0.25 size has it, so 0.5 vCPU / 4 GB.
        assert_eq!(size(250, 3 * 1024), (Decimal::new(5, 1), Decimal::from(4)));
        assert_eq!(fargate_size(17_000, 1024), None);
    }

    #[test]
    fn what_the_price_list_cannot_name_has_no_query() {
        let db = |engine: &str| PriceKey::Database {
            class: "db.t4g.small".into(),
            engine: engine.into(),
            multi_az: true,
            region: "us-east-1".into(),
        };
        let q = db("postgres").query().unwrap();
        assert!(q.filters.contains(&("deploymentOption", "Multi-AZ".into())));
        // An Aurora member is priced as the instance it is.
        let a = db("aurora-postgresql").query().unwrap();
        assert!(
            a.filters
                .contains(&("deploymentOption", "Single-AZ".into()))
        );
        assert!(db("oracle-ee").query().is_none());
    }
}
