//! The adapter's own identifiers, typed: which Discord message a core message id names, and
//! what a component's custom id carries. Each has one encoding and one decoding.

use std::fmt;
use std::str::FromStr;

/// A message the adapter sent, as the core keeps it (for later edits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The interaction's original response (edited through the interaction token).
    Original,
    /// A follow-up message of the interaction.
    Followup(u64),
    /// A plain message in a channel, thread or DM.
    Channel { channel: u64, message: u64 },
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sent::Original => f.write_str("o"),
            Sent::Followup(id) => write!(f, "f{id}"),
            Sent::Channel { channel, message } => write!(f, "c{channel}:{message}"),
        }
    }
}

impl FromStr for Sent {
    type Err = ();
    fn from_str(s: &str) -> Result<Sent, ()> {
        if s == "o" {
            return Ok(Sent::Original);
        }
        if let Some(id) = s.strip_prefix('f') {
            return id.parse().map(Sent::Followup).map_err(drop);
        }
        let (channel, message) = s.strip_prefix('c').and_then(|r| r.split_once(':')).ok_or(())?;
        Ok(Sent::Channel {
            channel: channel.parse().map_err(drop)?,
            message: message.parse().map_err(drop)?,
        })
    }
}

/// What a button or select menu sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// One of the core's buttons: its action data.
    Core(String),
    /// The style select menu (the chosen option is the core's action data).
    Pick,
    /// Delete the messages of a conversation.
    Delete(String),
}

/// A component's custom id: the component, and in servers the requester who alone may use it
/// (`<uid>|...`, at most 100 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomId {
    /// Who may press it; `None` in DMs.
    pub owner: Option<u64>,
    /// What it does.
    pub component: Component,
}

impl fmt::Display for CustomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uid) = self.owner {
            write!(f, "{uid}|")?;
        }
        match &self.component {
            Component::Core(data) => f.write_str(data),
            Component::Pick => f.write_str("pick"),
            Component::Delete(key) => write!(f, "del:{key}"),
        }
    }
}

impl CustomId {
    /// Reads a custom id back (any text is some component: unknown data goes to the core,
    /// which answers that the button is stale).
    pub fn parse(s: &str) -> CustomId {
        let (owner, rest) = match s.split_once('|') {
            Some((uid, rest)) if uid.parse::<u64>().is_ok() => (uid.parse().ok(), rest),
            _ => (None, s),
        };
        let component = match rest {
            "pick" => Component::Pick,
            _ => match rest.strip_prefix("del:") {
                Some(key) => Component::Delete(key.to_string()),
                None => Component::Core(rest.to_string()),
            },
        };
        CustomId { owner, component }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_messages_survive_their_encoding() {
        for sent in [
            Sent::Original,
            Sent::Followup(1_200_000_000_000_000_009),
            Sent::Channel {
                channel: 7,
                message: 1_200_000_000_000_000_010,
            },
        ] {
            assert_eq!(sent.to_string().parse::<Sent>(), Ok(sent));
        }
        for bad in ["", "x1", "f", "fx", "c1", "c1:", "c:2", "o2"] {
            assert!(bad.parse::<Sent>().is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_ids_survive_their_encoding() {
        for id in [
            CustomId {
                owner: Some(42),
                component: Component::Core("reroll:01J".into()),
            },
            CustomId {
                owner: None,
                component: Component::Pick,
            },
            CustomId {
                owner: Some(7),
                component: Component::Delete("123:456".into()),
            },
        ] {
            assert_eq!(CustomId::parse(&id.to_string()), id);
        }
        assert_eq!(
            CustomId::parse("x|styles"),
            CustomId {
                owner: None,
                component: Component::Core("x|styles".into())
            }
        );
    }
}
