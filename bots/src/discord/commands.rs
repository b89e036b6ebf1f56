//! The slash-command menu Discord shows, with the catalog's styles as choices.

use headshot::Service;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption, Permissions};

/// The slash commands, with choices from the catalog (at most 25 per menu).
pub fn commands(service: &Service) -> Vec<CreateCommand> {
    let style_option = |required: bool| {
        let mut o =
            CreateCommandOption::new(CommandOptionType::String, "style", "The look").required(required);
        for s in service.catalog().styles().iter().take(25) {
            o = o.add_string_choice(s.title.clone(), s.name.clone());
        }
        o
    };
    let mode = CreateCommandOption::new(CommandOptionType::String, "mode", "Headshot rules or portrait")
        .add_string_choice("Headshot", "headshot")
        .add_string_choice("Portrait", "portrait");
    let crop = CreateCommandOption::new(CommandOptionType::String, "crop", "Framing")
        .add_string_choice("4:5 portrait", "4:5")
        .add_string_choice("1:1 avatar", "1:1")
        .add_string_choice("Both", "both");
    let delivery = CreateCommandOption::new(CommandOptionType::String, "delivery", "Where results go")
        .add_string_choice("Private thread", "thread")
        .add_string_choice("Public thread", "public")
        .add_string_choice("Direct message", "private");
    let variants = CreateCommandOption::new(CommandOptionType::Integer, "variants", "Takes per selfie")
        .min_int_value(1)
        .max_int_value(service.config().jobs.max_variants as u64);
    vec![
        CreateCommand::new("headshot")
            .description("Turn a selfie into professional headshots")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::Attachment,
                    "selfie",
                    "A well-lit selfie, facing the camera",
                )
                .required(true),
            )
            .add_option(style_option(false))
            .add_option(mode.clone())
            .add_option(crop.clone()),
        CreateCommand::new("style")
            .description("Pick the look of your headshots")
            .add_option(style_option(false)),
        CreateCommand::new("settings")
            .description("Your choices: delivery, mode, crop, variants")
            .add_option(delivery)
            .add_option(mode)
            .add_option(crop)
            .add_option(variants),
        CreateCommand::new("status").description("Where your headshot is in the queue"),
        CreateCommand::new("cancel").description("Cancel your waiting headshots"),
        CreateCommand::new("redo")
            .description("Run your last selfie again")
            .add_option(style_option(false)),
        CreateCommand::new("forget").description("Delete everything about you"),
        CreateCommand::new("privacy").description("What is stored and for how long"),
        CreateCommand::new("help").description("How to use the bot"),
        CreateCommand::new("server")
            .description("Server admins: where this server's headshots may be delivered")
            .default_member_permissions(Permissions::MANAGE_GUILD)
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "delivery", "Allowed delivery")
                    .required(true)
                    .add_string_choice("Any (user's choice)", "any")
                    .add_string_choice("Private threads only", "private")
                    .add_string_choice("Direct messages only", "dm"),
            ),
    ]
}
