//! The demo bot `demo` that `cxb up` seeds: a small dental-clinic receptionist that runs on the
//! embedded offline stack (pocketsphinx, the local responder, espeak-ng), so a first call holds a
//! real spoken conversation with no network.

use crate::agent::{KnowledgeDoc, PolicyStep};
use crate::bot::BotConfig;

/// The id `sip:demo@host` reaches.
pub const DEMO_BOT_ID: &str = "demo";

/// The id of the demo customer: a second bot that plays a patient answering the phone, so the
/// `cxb up` dial-out example has someone to talk to with no carrier.
pub const DEMO_CUSTOMER_ID: &str = "demo-customer";

/// The demo bot's configuration.
pub fn demo_bot() -> BotConfig {
    let mut bot = BotConfig::new(DEMO_BOT_ID, "cxb demo");
    bot.opening_message =
        "Hello, you have reached the cxb demo clinic. This call is recorded. How can I help you today?".into();
    bot.system_prompt = "You are the friendly receptionist of the cxb demo clinic. Keep answers short and spoken. \
        Help callers book an appointment and answer questions about opening hours, address and prices."
        .into();
    bot.policy = vec![
        PolicyStep {
            name: "reason".into(),
            goal: "Learn why the caller is calling".into(),
            say: "Would you like to book an appointment?".into(),
        },
        PolicyStep {
            name: "name".into(),
            goal: "Get the caller's name".into(),
            say: "Great. May I have your name, please?".into(),
        },
        PolicyStep {
            name: "time".into(),
            goal: "Agree on a day for the appointment".into(),
            say: "Thank you. Which day would suit you best?".into(),
        },
        PolicyStep {
            name: "confirm".into(),
            goal: "Confirm the booking".into(),
            say: "Perfect, I have noted that. We will send you a confirmation.".into(),
        },
    ];
    bot.knowledge_base = vec![
        KnowledgeDoc {
            title: "Opening hours".into(),
            text: "The clinic is open Monday to Friday from nine in the morning to six in the evening. \
                   On Saturday we are open from nine to one. We are closed on Sunday."
                .into(),
        },
        KnowledgeDoc {
            title: "Address".into(),
            text: "The clinic is at twelve Harbour Street, next to the central station. \
                   Parking is free behind the building."
                .into(),
        },
        KnowledgeDoc {
            title: "Prices".into(),
            text: "A check up costs forty euros. A cleaning costs sixty euros. \
                   Children under twelve are treated for free."
                .into(),
        },
    ];
    bot.record = true;
    bot.max_call_seconds = 600;
    bot
}

/// The demo customer: answers "Hello?" (a human-sounding greeting, so answering-machine
/// detection lets the call through), then wants an appointment, gives a name and a day and says
/// goodbye, one policy step per turn.
pub fn demo_customer_bot() -> BotConfig {
    let mut bot = BotConfig::new(DEMO_CUSTOMER_ID, "cxb demo customer");
    bot.opening_message = "Hello?".into();
    bot.system_prompt = "You are Sam, a patient answering a call from the clinic. Answer briefly.".into();
    let step = |name: &str, say: &str| PolicyStep {
        name: name.into(),
        goal: String::new(),
        say: say.into(),
    };
    bot.policy = vec![
        step("want", "Yes, I would like to book an appointment."),
        step("name", "My name is Sam."),
        step("day", "Monday, please."),
    ];
    bot.behavior.closing_message = "Thank you, goodbye.".into();
    bot.record = false;
    bot.max_call_seconds = 120;
    bot
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_bot_is_valid() {
        let bot = super::demo_bot();
        bot.validate().unwrap();
        assert_eq!(bot.id, super::DEMO_BOT_ID);
        super::demo_customer_bot().validate().unwrap();
    }
}
