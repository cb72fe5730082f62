//! Partner organisations under a watch-over agreement (見守り協定). They only send concerns; they
//! never see residents.

use super::PartnerId;
use super::kinds::vocabulary;
use chrono::{DateTime, Utc};

vocabulary! {
    /// The kind of business, which tells what a partner is likely to notice.
    PartnerKind, "partner_kind" {
        Post => ("post", "郵便局"),
        Delivery => ("delivery", "宅配事業者"),
        Newspaper => ("newspaper", "新聞販売店"),
        Coop => ("coop", "生協"),
        Utility => ("utility", "電気・ガス・水道"),
        Bank => ("bank", "金融機関"),
        Retail => ("retail", "小売店"),
        Other => ("other", "その他"),
    }
}

/// A partner organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub kind: PartnerKind,
    /// Name or reference of the agreement, e.g. `地域見守り活動に関する協定 (2019-07-05)`.
    pub agreement: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A partner to register.
#[derive(Debug, Clone)]
pub struct NewPartner {
    pub id: PartnerId,
    pub name: String,
    pub kind: PartnerKind,
    pub agreement: Option<String>,
}

vocabulary! {
    /// What a partner noticed at a door (the report form's checkboxes; `seen` in the API).
    Observation, "seen" {
        Mail => ("mail", "郵便物がたまっている"),
        Newspapers => ("newspapers", "新聞がたまっている"),
        Lights => ("lights", "昼も夜も電気がついたまま"),
        Laundry => ("laundry", "洗濯物が干したまま"),
        NotSeen => ("not_seen", "最近姿を見かけない"),
        NoAnswer => ("no_answer", "訪問しても応答がない"),
        Smell => ("smell", "異臭がする"),
        Confusion => ("confusion", "話がかみ合わない・道に迷っている"),
        Fraud => ("fraud", "不審な訪問者・詐欺の心配"),
        Other => ("other", "その他"),
    }
}
