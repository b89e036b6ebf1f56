//! CLIP's byte-pair tokenizer, from the `vocab.json` and `merges.txt` of a diffusers
//! `tokenizer/` directory: lower-cased words, letters, digits and punctuation runs, each word
//! ending in `</w>`, merged by rank.

use std::collections::HashMap;
use std::path::Path;

use super::DiffusionError;

/// A loaded tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
}

/// Splits text as CLIP does: contractions, letter runs, single digits, punctuation runs.
fn words(text: &str) -> Vec<String> {
    let text = text.to_lowercase();
    let mut out = Vec::new();
    let chars: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            let rest: String = chars[i..].iter().take(3).collect();
            if let Some(s) = ["'ll", "'re", "'ve", "'s", "'t", "'m", "'d"]
                .iter()
                .find(|s| rest.starts_with(**s))
            {
                out.push(s.to_string());
                i += s.chars().count();
                continue;
            }
        }
        let start = i;
        if c.is_alphabetic() {
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
        } else if c.is_numeric() {
            i += 1;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && !chars[i].is_alphanumeric() {
                i += 1;
            }
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

impl Tokenizer {
    /// Reads `vocab.json` and `merges.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Tokenizer, DiffusionError> {
        let vocab_text = std::fs::read_to_string(dir.join("vocab.json"))
            .map_err(|e| DiffusionError::Missing(format!("{}: {e}", dir.join("vocab.json").display())))?;
        let merges = std::fs::read_to_string(dir.join("merges.txt"))
            .map_err(|e| DiffusionError::Missing(format!("{}: {e}", dir.join("merges.txt").display())))?;
        let vocab: HashMap<String, u32> = serde_json::from_str(&vocab_text)
            .map_err(|e| DiffusionError::Config(format!("tokenizer vocab.json: {e}")))?;
        Ok(Tokenizer::new(vocab, &merges))
    }

    /// A tokenizer from a vocabulary and the text of a merges file.
    pub fn new(vocab: HashMap<String, u32>, merges: &str) -> Tokenizer {
        let ranks = merges
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .filter_map(|l| l.split_once(' '))
            .enumerate()
            .map(|(i, (a, b))| ((a.to_string(), b.to_string()), i))
            .collect();
        Tokenizer { vocab, ranks }
    }

    fn bpe(&self, word: &str) -> Vec<String> {
        let mut parts: Vec<String> = word.chars().map(|c| c.to_string()).collect();
        if let Some(last) = parts.last_mut() {
            last.push_str("</w>");
        }
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, p)| self.ranks.get(&(p[0].clone(), p[1].clone())).map(|r| (*r, i)))
                .min();
            let Some((_, i)) = best else { break };
            let merged = format!("{}{}", parts[i], parts[i + 1]);
            parts.splice(i..i + 2, [merged]);
        }
        parts
    }

    /// Token ids of `text` (without start and end tokens); unknown pieces are skipped.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        words(text)
            .iter()
            .flat_map(|w| self.bpe(w))
            .filter_map(|piece| self.vocab.get(&piece).copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_clip() {
        assert_eq!(
            words("A Navy  blazer, it's 2 PM!"),
            ["a", "navy", "blazer", ",", "it", "'s", "2", "pm", "!"]
        );
    }

    #[test]
    fn merges_apply_by_rank() {
        let vocab: HashMap<String, u32> = [
            ("lo", 1),
            ("w</w>", 2),
            ("low</w>", 3),
            ("l", 4),
            ("o", 5),
            ("a</w>", 6),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let t = Tokenizer::new(vocab, "#version: 0.2\nl o\nlo w</w>\n");
        assert_eq!(t.encode("LOW a"), [3, 6]);
        assert_eq!(t.encode("lo"), [4], "`o</w>` is not in the vocabulary");
    }
}
