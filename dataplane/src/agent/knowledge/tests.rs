use super::text::{chunk, stem, terms};
use super::*;

fn doc(title: &str, text: &str) -> Document {
    Document {
        title: title.into(),
        text: text.into(),
    }
}

fn corpus() -> Vec<Document> {
    vec![
        doc(
            "Opening hours",
            "Our clinic is open Monday to Friday from 8 am to 6 pm. On Saturdays we open from 9 am \
             to noon. We are closed on Sundays and public holidays.",
        ),
        doc(
            "Refund policy",
            "Refunds are issued within 14 days of a cancelled appointment. To request a refund, \
             call the front desk or email billing. Deposits are refunded in full when you cancel \
             at least 24 hours ahead.",
        ),
        doc(
            "Parking",
            "Free parking is available behind the building. The entrance is on Elm Street. \
             Disabled parking spaces are next to the main door.",
        ),
        doc(
            "Insurance",
            "We accept most major insurance plans, including Blue Cross and Aetna. Bring your \
             insurance card to your first appointment.",
        ),
    ]
}

fn titles(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.title.as_str()).collect()
}

#[test]
fn relevance_order_on_a_small_corpus() {
    let kb = KnowledgeBase::build(&corpus(), KnowledgeConfig::default()).unwrap();
    assert_eq!(kb.len(), 4);
    let cases = [
        ("When are you open on Saturday?", "Opening hours"),
        ("How do I get my money back? I want a refund", "Refund policy"),
        ("Where can I park my car?", "Parking"),
        ("Do you take Aetna insurance?", "Insurance"),
        ("what are your hours", "Opening hours"),
        ("Is the deposit refundable if I cancel?", "Refund policy"),
    ];
    for (q, want) in cases {
        let hits = kb.search(q, 3);
        assert!(!hits.is_empty(), "{q}");
        assert_eq!(hits[0].title, want, "{q}: {:?}", titles(&hits));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{q}");
        assert!(hits.iter().all(|h| h.score > 0.0));
    }
    // Only chunks sharing a term come back, at most k of them.
    assert_eq!(titles(&kb.search("parking", 5)), vec!["Parking"]);
    assert_eq!(kb.search("appointment", 1).len(), 1);
    assert_eq!(kb.search("appointment", 5).len(), 2);
    assert!(kb.search("appointment", 0).is_empty());
}

#[test]
fn rarer_terms_weigh_more_and_term_frequency_saturates() {
    let docs = vec![
        doc("a", "apple apple apple apple apple apple apple apple banana"),
        doc("b", "apple cherry"),
        doc("c", "apple date"),
    ];
    let kb = KnowledgeBase::build(&docs, KnowledgeConfig::default()).unwrap();
    // "cherry" is in one chunk, "apple" in all three: the cherry chunk wins.
    assert_eq!(titles(&kb.search("apple cherry", 3))[0], "b");
    let hits = kb.search("apple", 3);
    assert_eq!(hits[0].title, "a");
    // Eight times the term is far from eight times the score.
    assert!(hits[0].score < 3.0 * hits[1].score, "{hits:?}");
}

#[test]
fn empty_and_huge_inputs() {
    let empty = KnowledgeBase::build(&[], KnowledgeConfig::default()).unwrap();
    assert!(empty.is_empty());
    assert!(empty.search("anything at all", 5).is_empty());
    let blank = KnowledgeBase::build(&[doc("Empty", ""), doc("", "   \n\n  ")], KnowledgeConfig::default()).unwrap();
    assert!(blank.is_empty());
    let kb = KnowledgeBase::build(&corpus(), KnowledgeConfig::default()).unwrap();
    assert!(kb.search("", 5).is_empty());
    assert!(kb.search("the and of to", 5).is_empty(), "stop words only");
    assert!(kb.search("?!… 🙂", 5).is_empty());

    // A huge document (a million bytes, one "sentence" without spaces included) and a huge query.
    let mut big = String::new();
    for i in 0..8000 {
        big.push_str(&format!(
            "Paragraph {i} talks about widget number {i} and its warranty. "
        ));
        if i % 5 == 4 {
            big.push_str("\n\n");
        }
    }
    big.push_str(&"x".repeat(200_000));
    let kb = KnowledgeBase::build(&[doc("Widgets", &big)], KnowledgeConfig::default()).unwrap();
    assert!(kb.len() > 1000);
    for i in 0..kb.len() {
        assert!(kb.chunk(i).unwrap().len() <= 500, "chunk {i} too long");
    }
    let hits = kb.search("widget 4711 warranty", 3);
    assert!(hits[0].chunk.contains("widget number 4711 "), "{:?}", hits[0]);
    let query = "warranty widget ".repeat(50_000);
    assert_eq!(kb.search(&query, 2).len(), 2);
}

#[test]
fn retriever_caches_recent_queries() {
    let kb = Arc::new(KnowledgeBase::build(&corpus(), KnowledgeConfig::default()).unwrap());
    let mut r = Retriever::new(kb.clone(), 2);
    let first = r.search("What are your hours?", 2);
    assert!(!first.cached);
    assert_eq!(first.query, "What are your hours?");
    assert_eq!(first.hit_count(), first.hits.len());
    let again = r.search("what are your HOURS", 2);
    assert!(again.cached, "same terms, same k");
    assert_eq!(again.hits, first.hits);
    assert!(!r.search("what are your hours", 1).cached, "another k");
    // Capacity 2: the least recently used entry ("hours", k=2) is evicted by a third query.
    assert!(!r.search("parking", 2).cached);
    assert!(!r.search("What are your hours?", 2).cached);
    assert!(r.search("parking", 2).cached);
    r.clear_cache();
    assert!(!r.search("parking", 2).cached);
    let mut none = Retriever::new(kb, 0);
    none.search("parking", 2);
    assert!(!none.search("parking", 2).cached);
}

#[test]
fn search_record_serialises_for_the_call_record() {
    let kb = Arc::new(KnowledgeBase::build(&corpus(), KnowledgeConfig::default()).unwrap());
    let rec = Retriever::new(kb, 4).search("parking", 1);
    let v = serde_json::to_value(&rec).unwrap();
    assert_eq!(v["query"], "parking");
    assert_eq!(v["cached"], false);
    assert_eq!(v["hits"][0]["title"], "Parking");
    assert!(v["latency_us"].is_u64());
}

#[test]
fn terms_are_folded_stopped_and_stemmed() {
    assert_eq!(
        terms("The Café's REFUNDS, refunded; refunding: policies & policy — Naïve Mondays don't"),
        vec![
            "cafe", "refund", "refund", "refund", "polic", "polic", "naive", "monda", "dont"
        ]
    );
    assert_eq!(terms("Straße Œuvre 24/7"), vec!["strasse", "oeuvre", "24", "7"]);
    for (w, s) in [
        ("boxes", "box"),
        ("prices", "price"),
        ("classes", "class"),
        ("status", "status"),
    ] {
        assert_eq!(stem(w), s);
    }
    assert_eq!(stem("hours"), "hour");
    assert_eq!(stem("bring"), "bring");
}

#[test]
fn chunks_respect_size_paragraphs_and_overlap() {
    let s = |n: usize| format!("Sentence number {n} has a few words in it.");
    let text: Vec<String> = (0..40).map(s).collect();
    let chunks = chunk(&text.join(" "), 200, 60);
    assert!(chunks.len() > 5);
    for c in &chunks {
        assert!(c.len() <= 200, "{c}");
    }
    // Consecutive chunks overlap by the last sentence.
    for w in chunks.windows(2) {
        let last = w[0].rsplit(". ").next().unwrap();
        assert!(w[1].starts_with(last.trim_end_matches('.')), "{:?}", w);
    }
    // Every sentence is somewhere.
    for i in 0..40 {
        assert!(chunks.iter().any(|c| c.contains(&s(i))), "{i}");
    }
    // A paragraph end closes a half-full chunk; a short paragraph joins the next.
    let paras = format!("{}\n\n{}\n\nShort one.\n\nAnother.", "a ".repeat(60), "b ".repeat(20));
    let c = chunk(&paras, 200, 40);
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(
        c[1].starts_with("b b") && c[1].ends_with("Short one. Another."),
        "{c:?}"
    );
    assert!(chunk("", 200, 40).is_empty());
}

#[test]
fn config_is_validated() {
    let bad = |cfg: KnowledgeConfig| KnowledgeBase::build(&corpus(), cfg).unwrap_err();
    let d = KnowledgeConfig::default();
    assert!(matches!(
        bad(KnowledgeConfig { chunk_chars: 10, ..d }),
        KnowledgeError::InvalidConfig {
            field: "chunk_chars",
            ..
        }
    ));
    assert!(matches!(
        bad(KnowledgeConfig {
            overlap_chars: 300,
            ..d
        }),
        KnowledgeError::InvalidConfig {
            field: "overlap_chars",
            ..
        }
    ));
    assert!(matches!(
        bad(KnowledgeConfig { b: 1.5, ..d }),
        KnowledgeError::InvalidConfig { field: "b", .. }
    ));
}
