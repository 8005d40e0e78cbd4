//! EKS calls: the account's clusters (described once for node groups and workloads), their
//! managed node groups, remembering a node group's size in a cluster tag, and scaling it.

use std::collections::BTreeMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::NodegroupScalingConfig;
use caretaker_shared::aws::{AwsError, aws_err};

use crate::domain::{NodeGroup, Sizes};

/// An EKS cluster as `DescribeCluster` gives it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) endpoint: Option<String>,
    /// `certificateAuthority.data`: base64 of the PEM.
    pub(crate) ca_data: Option<String>,
}

/// Every cluster of the account; a cluster that cannot be described is returned as
/// `Err((name, cause))` beside the others.
pub(crate) async fn clusters(
    eks: &Client,
) -> Result<Vec<Result<Cluster, (String, AwsError)>>, AwsError> {
    let mut names = Vec::new();
    let mut pages = eks.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err::<_, _, AwsError>("eks", "ListClusters"))?;
        names.extend(page.clusters.unwrap_or_default());
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let described = eks
            .describe_cluster()
            .name(&name)
            .send()
            .await
            .map_err(|e| AwsError::new("eks", "DescribeCluster", &e).on(&name));
        out.push(match described {
            Ok(o) => {
                let c = o
                    .cluster
                    .unwrap_or_else(|| aws_sdk_eks::types::Cluster::builder().build());
                Ok(Cluster {
                    name,
                    arn: c.arn.unwrap_or_default(),
                    tags: c.tags.unwrap_or_default().into_iter().collect(),
                    endpoint: c.endpoint,
                    ca_data: c.certificate_authority.and_then(|a| a.data),
                })
            }
            Err(e) => Err((name, e)),
        });
    }
    Ok(out)
}

/// The cluster's node groups, each with the cluster's tags under its own; one that cannot be
/// described is `Err((id, cause))` beside the others.
pub(crate) async fn nodegroups(
    eks: &Client,
    cluster: &Cluster,
) -> Result<Vec<Result<NodeGroup, (String, AwsError)>>, AwsError> {
    let names = eks
        .list_nodegroups()
        .cluster_name(&cluster.name)
        .send()
        .await
        .map_err(|e| AwsError::new("eks", "ListNodegroups", &e).on(&cluster.name))?
        .nodegroups
        .unwrap_or_default();
    let mut out = Vec::with_capacity(names.len());
    for ng in names {
        let id = format!("{}/{ng}", cluster.name);
        let described = eks
            .describe_nodegroup()
            .cluster_name(&cluster.name)
            .nodegroup_name(&ng)
            .send()
            .await;
        let n = match described {
            Ok(o) => match o.nodegroup {
                Some(n) => n,
                None => continue,
            },
            Err(e) => {
                out.push(Err((
                    id.clone(),
                    AwsError::new("eks", "DescribeNodegroup", &e).on(&id),
                )));
                continue;
            }
        };
        let mut tags = cluster.tags.clone();
        tags.extend(n.tags.clone().unwrap_or_default());
        let sc = n
            .scaling_config
            .clone()
            .unwrap_or_else(|| NodegroupScalingConfig::builder().build());
        out.push(Ok(NodeGroup {
            cluster: cluster.name.clone(),
            name: ng,
            tags,
            sizes: Sizes {
                min: sc.min_size.unwrap_or(0),
                max: sc.max_size.unwrap_or(1),
                desired: sc.desired_size.unwrap_or(0),
            },
            status: n
                .status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            instance_types: n.instance_types.clone().unwrap_or_default(),
        }));
    }
    Ok(out)
}

/// Remember a node group's size in a tag of its cluster (EKS keeps node group tags read-only
/// for this purpose in some tools; the cluster's are always writable).
pub(crate) async fn remember_size(
    eks: &Client,
    cluster: &Cluster,
    ng: &NodeGroup,
    sizes: Sizes,
) -> Result<(), AwsError> {
    eks.tag_resource()
        .resource_arn(&cluster.arn)
        .tags(ng.size_tag(), sizes.encode())
        .send()
        .await
        .map_err(|e| AwsError::new("eks", "TagResource", &e).on(&cluster.name))?;
    Ok(())
}

pub(crate) async fn scale(eks: &Client, ng: &NodeGroup, to: Sizes) -> Result<(), AwsError> {
    let cfg = NodegroupScalingConfig::builder()
        .min_size(to.min)
        .desired_size(to.desired)
        .max_size(to.max)
        .build();
    eks.update_nodegroup_config()
        .cluster_name(&ng.cluster)
        .nodegroup_name(&ng.name)
        .scaling_config(cfg)
        .send()
        .await
        .map_err(|e| AwsError::new("eks", "UpdateNodegroupConfig", &e).on(ng.id()))?;
    Ok(())
}
