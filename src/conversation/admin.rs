//! Operator commands: `/stats`, `/pause`, `/resume`, `/ban`, `/unban`.

use crate::chat::ChatRef;
use crate::command::Admin;
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

pub(super) async fn run(core: &Core, chat: &ChatRef, command: Admin) -> Result<(), StoreError> {
    let reply = match command {
        Admin::Stats => {
            let queue = core.queue.stats();
            let paused = core.gate.paused();
            text::admin_stats(
                queue.queued,
                queue.running,
                &core.store.stats()?,
                paused.as_deref(),
            )
        }
        Admin::Pause(reason) => {
            core.gate.pause(&reason);
            text::admin_paused(&reason)
        }
        Admin::Resume => {
            core.gate.resume();
            text::admin_resumed()
        }
        Admin::Ban {
            ban,
            target: Ok(target),
        } => {
            core.store.set_banned(&target, ban)?;
            text::admin_banned(&target.to_string(), ban)
        }
        Admin::Ban { ban, target: Err(e) } => text::admin_usage(if ban { "ban" } else { "unban" }, &e),
    };
    core.frontends.say(chat, reply).await;
    Ok(())
}
