//! The bot's knowledge base: documents chunked and indexed in process with BM25, searched once
//! per turn.
//!
//! [`KnowledgeBase::build`] runs at bot load: each [`Document`] is cut into chunks of about
//! `chunk_chars` characters (paragraphs, then sentences, with `overlap_chars` of overlap) and
//! every chunk's terms (its document title's included) go into an inverted index. Terms are
//! lowercase, ASCII-folded, stop words dropped and lightly stemmed ([`text::terms`]).
//! [`KnowledgeBase::search`] ranks chunks by Okapi BM25 (`k1` = 1.2, `b` = 0.75 by default).
//!
//! The base is immutable and shared by the bot's calls (`Arc`); each call searches through its
//! own [`Retriever`], which keeps a small LRU cache of recent queries and returns a
//! [`SearchRecord`] (query, hits, latency, cache status) for the call record. Searching
//! allocates; it is not on the media path.

pub mod text;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Errors of the knowledge base.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KnowledgeError {
    /// A [`KnowledgeConfig`] field is out of range.
    #[error("knowledge base setting {field} = {value} is out of range ({range})")]
    InvalidConfig {
        /// Name of the field.
        field: &'static str,
        /// The rejected value.
        value: f64,
        /// The accepted range, for the message.
        range: &'static str,
    },
}

/// One document of a bot's knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    /// Title (indexed with every chunk of the document).
    pub title: String,
    /// Body text; blank lines separate paragraphs.
    pub text: String,
}

/// Chunking and ranking settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnowledgeConfig {
    /// Target chunk size in bytes (about characters for English). Default 500.
    pub chunk_chars: usize,
    /// Text carried from the end of a chunk cut for size into the next. Default 100.
    pub overlap_chars: usize,
    /// BM25 term-frequency saturation. Default 1.2.
    pub k1: f32,
    /// BM25 length normalisation. Default 0.75.
    pub b: f32,
    /// Distinct known query terms considered (the rest of a very long query is ignored).
    /// Default 64.
    pub max_query_terms: usize,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            chunk_chars: 500,
            overlap_chars: 100,
            k1: 1.2,
            b: 0.75,
            max_query_terms: 64,
        }
    }
}

impl KnowledgeConfig {
    /// Checks the ranges: chunk 50..=100000, overlap below half a chunk, k1 0..=10, b 0..=1,
    /// query terms 1..=4096.
    pub fn validate(&self) -> Result<(), KnowledgeError> {
        let bad = |field, value: f64, range| Err(KnowledgeError::InvalidConfig { field, value, range });
        if !(50..=100_000).contains(&self.chunk_chars) {
            return bad("chunk_chars", self.chunk_chars as f64, "50..=100000");
        }
        if self.overlap_chars >= self.chunk_chars / 2 {
            return bad("overlap_chars", self.overlap_chars as f64, "below chunk_chars / 2");
        }
        if !(0.0..=10.0).contains(&self.k1) {
            return bad("k1", f64::from(self.k1), "0..=10");
        }
        if !(0.0..=1.0).contains(&self.b) {
            return bad("b", f64::from(self.b), "0..=1");
        }
        if !(1..=4096).contains(&self.max_query_terms) {
            return bad("max_query_terms", self.max_query_terms as f64, "1..=4096");
        }
        Ok(())
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The chunk's text.
    pub chunk: String,
    /// Its BM25 score (higher is better; always positive).
    pub score: f32,
    /// The title of the document it comes from.
    pub title: String,
}

/// A retrieval as the call record keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchRecord {
    /// The query as asked.
    pub query: String,
    /// The hits, best first.
    pub hits: Vec<Hit>,
    /// Time spent in the search (or the cache look-up), microseconds.
    pub latency_us: u64,
    /// Whether the hits came from the call's cache.
    pub cached: bool,
}

impl SearchRecord {
    /// Number of hits.
    pub fn hit_count(&self) -> usize {
        self.hits.len()
    }
}

#[derive(Debug, Clone)]
struct Chunk {
    doc: usize,
    text: String,
    /// Number of terms (title's included).
    len: u32,
}

/// An immutable BM25 index over a bot's documents.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    cfg: KnowledgeConfig,
    titles: Vec<String>,
    chunks: Vec<Chunk>,
    terms: HashMap<String, u32>,
    /// Per term: (chunk, term frequency), chunks ascending.
    postings: Vec<Vec<(u32, u32)>>,
    avg_len: f32,
}

impl KnowledgeBase {
    /// Chunks and indexes `docs` (documents without text are skipped).
    pub fn build(docs: &[Document], cfg: KnowledgeConfig) -> Result<Self, KnowledgeError> {
        cfg.validate()?;
        let mut kb = KnowledgeBase {
            cfg,
            titles: docs.iter().map(|d| d.title.clone()).collect(),
            chunks: Vec::new(),
            terms: HashMap::new(),
            postings: Vec::new(),
            avg_len: 0.0,
        };
        let mut buf = String::new();
        let mut tf: HashMap<u32, u32> = HashMap::new();
        let mut total: u64 = 0;
        for (doc, d) in docs.iter().enumerate() {
            for text in text::chunk(&d.text, cfg.chunk_chars, cfg.overlap_chars) {
                tf.clear();
                let mut len = 0u32;
                let chunk_id = kb.chunks.len() as u32;
                for part in [d.title.as_str(), text.as_str()] {
                    text::for_each_term(part, &mut buf, |t| {
                        let next = kb.terms.len() as u32;
                        let id = *kb.terms.entry(t.to_string()).or_insert(next);
                        if id == next {
                            kb.postings.push(Vec::new());
                        }
                        *tf.entry(id).or_insert(0) += 1;
                        len += 1;
                    });
                }
                for (&id, &n) in &tf {
                    kb.postings[id as usize].push((chunk_id, n));
                }
                total += u64::from(len);
                kb.chunks.push(Chunk { doc, text, len });
            }
        }
        for p in &mut kb.postings {
            p.sort_unstable_by_key(|&(c, _)| c);
        }
        if !kb.chunks.is_empty() {
            kb.avg_len = (total as f64 / kb.chunks.len() as f64) as f32;
        }
        Ok(kb)
    }

    /// The settings it was built with.
    pub fn config(&self) -> &KnowledgeConfig {
        &self.cfg
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether there is nothing to search.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Number of distinct terms.
    pub fn vocabulary(&self) -> usize {
        self.terms.len()
    }

    /// Text of chunk `i` (in build order), if any.
    pub fn chunk(&self, i: usize) -> Option<&str> {
        self.chunks.get(i).map(|c| c.text.as_str())
    }

    /// The `k` best chunks for `query` by BM25, best first; chunks matching no query term are
    /// never returned; ties go to the earlier chunk.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        let ids = self.query_terms(query);
        self.rank(&ids, k)
    }

    /// The distinct known term ids of a query, at most `max_query_terms` of them.
    fn query_terms(&self, query: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        let mut buf = String::new();
        text::for_each_term(query, &mut buf, |t| {
            if ids.len() < self.cfg.max_query_terms
                && let Some(&id) = self.terms.get(t)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        });
        ids
    }

    fn rank(&self, ids: &[u32], k: usize) -> Vec<Hit> {
        if k == 0 || ids.is_empty() || self.chunks.is_empty() {
            return Vec::new();
        }
        let n = self.chunks.len() as f32;
        let (k1, b) = (self.cfg.k1, self.cfg.b);
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for &id in ids {
            let post = &self.postings[id as usize];
            let df = post.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(c, tf) in post {
                let dl = self.chunks[c as usize].len as f32;
                let tf = tf as f32;
                let norm = k1 * (1.0 - b + b * dl / self.avg_len.max(1.0));
                *scores.entry(c).or_insert(0.0) += idf * tf * (k1 + 1.0) / (tf + norm);
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores.into_iter().filter(|&(_, s)| s > 0.0).collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
            .into_iter()
            .map(|(c, score)| {
                let ch = &self.chunks[c as usize];
                Hit {
                    chunk: ch.text.clone(),
                    score,
                    title: self.titles[ch.doc].clone(),
                }
            })
            .collect()
    }
}

/// Queries a [`Retriever`] caches by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 16;

/// A call's view of the knowledge base: searches with a small LRU cache of recent queries (keyed
/// by the query's terms and `k`, so "What are your hours?" and "what are your hours" share an
/// entry).
#[derive(Debug, Clone)]
pub struct Retriever {
    kb: Arc<KnowledgeBase>,
    capacity: usize,
    /// Most recently used last.
    cache: Vec<(Vec<u32>, usize, Vec<Hit>)>,
}

impl Retriever {
    /// A retriever over `kb` caching up to `capacity` queries (0 disables the cache).
    pub fn new(kb: Arc<KnowledgeBase>, capacity: usize) -> Self {
        Retriever {
            kb,
            capacity,
            cache: Vec::with_capacity(capacity),
        }
    }

    /// The knowledge base.
    pub fn knowledge_base(&self) -> &Arc<KnowledgeBase> {
        &self.kb
    }

    /// Searches (or answers from the cache) and returns the record for the call.
    pub fn search(&mut self, query: &str, k: usize) -> SearchRecord {
        let t0 = Instant::now();
        let ids = self.kb.query_terms(query);
        let found = self.cache.iter().position(|(q, kk, _)| *kk == k && *q == ids);
        let (hits, cached) = match found {
            Some(i) => {
                let entry = self.cache.remove(i);
                let hits = entry.2.clone();
                self.cache.push(entry);
                (hits, true)
            }
            None => {
                let hits = self.kb.rank(&ids, k);
                if self.capacity > 0 {
                    if self.cache.len() >= self.capacity {
                        self.cache.remove(0);
                    }
                    self.cache.push((ids, k, hits.clone()));
                }
                (hits, false)
            }
        };
        SearchRecord {
            query: query.to_string(),
            hits,
            latency_us: t0.elapsed().as_micros() as u64,
            cached,
        }
    }

    /// Forgets the cached queries.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests;
