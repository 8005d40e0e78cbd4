//! The read-only calls behind the savings: prices from the Price List API, and what keeps
//! billing in an account while dev is off (EKS control planes, load balancers, NAT gateways,
//! interface endpoints, the storage of stopped databases), and which namespaces run on Fargate.
//! Nothing here changes anything.

use std::collections::BTreeSet;

use aws_sdk_pricing::types::{Filter, FilterType};
use chrono::{DateTime, Utc};

use crate::ledger::Biller;
use crate::prices::{self, Price, PriceKey};

/// The Price List API answers in us-east-1 (also eu-central-1 and ap-south-1) for every region.
pub(crate) const PRICING_REGION: &str = "us-east-1";

pub(crate) fn pricing_client(sdk: &aws_config::SdkConfig) -> aws_sdk_pricing::Client {
    let config = aws_sdk_pricing::config::Builder::from(sdk)
        .region(aws_sdk_pricing::config::Region::new(PRICING_REGION))
        .build();
    aws_sdk_pricing::Client::from_conf(config)
}

/// Why a price could not be read: the API could not be asked, or it gave no single answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PriceError {
    Unreachable(String),
    NoAnswer(String),
}

/// One price from `GetProducts` (every page).
pub(crate) async fn get_price(
    client: &aws_sdk_pricing::Client,
    key: &PriceKey,
    now: DateTime<Utc>,
) -> Result<Price, PriceError> {
    let Some(q) = key.query() else {
        return Err(PriceError::NoAnswer(
            "the Price List has no name for it".into(),
        ));
    };
    let mut req = client
        .get_products()
        .service_code(q.service)
        .format_version("aws_v1")
        .max_results(100);
    for (field, value) in &q.filters {
        let f = Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(*field)
            .value(value)
            .build()
            .map_err(|e| PriceError::NoAnswer(e.to_string()))?;
        req = req.filters(f);
    }
    let mut list = Vec::new();
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| PriceError::Unreachable(caretaker_shared::error::chain(&e)))?;
        list.extend(page.price_list.unwrap_or_default());
    }
    prices::parse(&list, q.unit, now).map_err(PriceError::NoAnswer)
}

fn n(v: usize) -> rust_decimal::Decimal {
    rust_decimal::Decimal::from(v as u64)
}

/// The account's load balancers, NAT gateways and interface endpoints (read-only).
pub(crate) async fn network_billers(
    cfg: &aws_config::SdkConfig,
    region: &str,
) -> Result<Vec<Biller>, String> {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(cfg);
    let (nats, endpoints, lbs) = futures::join!(
        async {
            let mut out = Vec::new();
            let mut pages = ec2.describe_nat_gateways().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    format!(
                        "ec2:DescribeNatGateways: {}",
                        caretaker_shared::error::chain(&e)
                    )
                })?;
                out.extend(page.nat_gateways.unwrap_or_default());
            }
            Ok::<_, String>(out)
        },
        async {
            let mut out = Vec::new();
            let mut pages = ec2.describe_vpc_endpoints().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    format!(
                        "ec2:DescribeVpcEndpoints: {}",
                        caretaker_shared::error::chain(&e)
                    )
                })?;
                out.extend(page.vpc_endpoints.unwrap_or_default());
            }
            Ok::<_, String>(out)
        },
        async {
            let mut out = Vec::new();
            let mut pages = elb.describe_load_balancers().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    format!(
                        "elasticloadbalancing:DescribeLoadBalancers: {}",
                        caretaker_shared::error::chain(&e)
                    )
                })?;
                out.extend(page.load_balancers.unwrap_or_default());
            }
            Ok::<_, String>(out)
        },
    );
    let region = region.to_owned();
    let mut out = Vec::new();
    for g in nats? {
        let live = matches!(
            g.state.as_ref().map(|s| s.as_str()),
            Some("available" | "pending")
        );
        if live {
            out.push(Biller {
                what: format!("NAT gateway {}", g.nat_gateway_id.unwrap_or_default()),
                key: PriceKey::NatGateway {
                    region: region.clone(),
                },
                quantity: rust_decimal::Decimal::ONE,
            });
        }
    }
    for e in endpoints? {
        let interface = e.vpc_endpoint_type.as_ref().map(|t| t.as_str()) == Some("Interface");
        let live = matches!(
            e.state
                .as_ref()
                .map(|s| s.as_str().to_ascii_lowercase())
                .as_deref(),
            Some("available" | "pending")
        );
        if interface && live {
            // An interface endpoint bills per Availability Zone, one subnet in each.
            let azs = e.subnet_ids.as_ref().map_or(1, |s| s.len().max(1));
            out.push(Biller {
                what: format!(
                    "interface endpoint {} ({azs} AZ)",
                    e.service_name.unwrap_or_default()
                ),
                key: PriceKey::VpcEndpoint {
                    region: region.clone(),
                },
                quantity: n(azs),
            });
        }
    }
    for lb in lbs? {
        let active = lb
            .state
            .as_ref()
            .and_then(|s| s.code.as_ref())
            .map(|c| c.as_str())
            != Some("failed");
        if active {
            let lb_type = lb
                .r#type
                .as_ref()
                .map_or("application", |t| t.as_str())
                .to_owned();
            out.push(Biller {
                what: format!(
                    "{lb_type} load balancer {}",
                    lb.load_balancer_name.unwrap_or_default()
                ),
                key: PriceKey::LoadBalancer {
                    lb_type,
                    region: region.clone(),
                },
                quantity: rust_decimal::Decimal::ONE,
            });
        }
    }
    Ok(out)
}

/// The namespaces a cluster's Fargate profiles select (their pods run on Fargate).
pub(crate) async fn fargate_namespaces(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
) -> Result<BTreeSet<String>, String> {
    let mut names = Vec::new();
    let mut pages = eks
        .list_fargate_profiles()
        .cluster_name(cluster)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "eks:ListFargateProfiles: {}",
                caretaker_shared::error::chain(&e)
            )
        })?;
        names.extend(page.fargate_profile_names.unwrap_or_default());
    }
    let mut out = BTreeSet::new();
    for name in names {
        let p = eks
            .describe_fargate_profile()
            .cluster_name(cluster)
            .fargate_profile_name(&name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "eks:DescribeFargateProfile {name}: {}",
                    caretaker_shared::error::chain(&e)
                )
            })?;
        for s in p
            .fargate_profile
            .and_then(|p| p.selectors)
            .unwrap_or_default()
        {
            out.extend(s.namespace);
        }
    }
    Ok(out)
}
