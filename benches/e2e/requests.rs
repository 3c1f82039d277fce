//! The Kafka requests the instances sent in a phase, by API, from their
//! `usercenter_kafka_requests_total`: per registration, what the pipeline asks of the broker
//! (the broker's CPU per registration follows its request count more than its record count).
use std::collections::BTreeMap;

use super::service::Instances;

/// Requests by API name, summed over the instances; [`Requests::since`] makes them a phase's.
#[derive(Debug, Default, Clone)]
pub struct Requests(BTreeMap<String, f64>);

impl Requests {
    /// The instances' totals now.
    pub async fn read(instances: &Instances) -> Self {
        let mut sum = BTreeMap::new();
        for text in instances.metrics().await {
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("usercenter_kafka_requests_total{api=\"") else {
                    continue;
                };
                let Some((api, value)) = rest.split_once("\"} ") else {
                    continue;
                };
                let n: f64 = value.trim().parse().unwrap_or(0.0);
                *sum.entry(api.to_owned()).or_insert(0.0) += n;
            }
        }
        Self(sum)
    }

    /// What was sent between `before` and `self`.
    pub fn since(&self, before: &Self) -> Self {
        let sent = self.0.iter().map(|(api, n)| {
            let b = before.0.get(api).copied().unwrap_or(0.0);
            (api.clone(), n - b)
        });
        Self(sent.filter(|(_, n)| *n > 0.0).collect())
    }

    /// One line: the requests of each API per registration, the most sent first, and their sum.
    pub fn describe(&self, registrations: usize) -> String {
        let per = |n: f64| n / registrations.max(1) as f64;
        let mut apis: Vec<_> = self.0.iter().collect();
        apis.sort_by(|a, b| b.1.total_cmp(a.1));
        let each: Vec<String> = apis
            .iter()
            .map(|(api, n)| format!("{api} {:.2}", per(**n)))
            .collect();
        format!(
            "Kafka requests per registration, sent by the instances: {:.2} ({})",
            per(self.0.values().sum()),
            each.join(", ")
        )
    }
}
