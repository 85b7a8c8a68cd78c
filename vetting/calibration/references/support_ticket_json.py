"""Reference task data for the `support-ticket-json` challenge.

Written from the public instructions, the published prompt and the public examples only, never from
the challenge's generator. Each pair is (customer message, JSON object) where the object has the keys
product, category, urgency, refund_requested and order_id, in that order, rendered as json.dumps does.

Labels are right by construction: the five values are chosen first, spread evenly over what the
instructions name, then a message is composed that expresses exactly those values:

- the product named in one of several phrasings ("the iOS app", "the Zapier connector", ...), or only
  generic words ("your software") for `other`;
- a core request phrased for the category, with category-specific details;
- an urgency sentence for high (urgent, blocking) and low (no rush), none for normal ("not urgent" is
  low, as the customer says there is no rush);
- a money-back sentence when refund_requested is true, and for some false items money talk that asks
  for nothing back (a wrong invoice, "no refund needed", "we pay $99 a month for this");
- an ORD- number when there is an order id, and distractor ticket, invoice, case, account and PO
  numbers that are never order ids.

Around them: greetings, signatures, "Sent from my iPhone", subject lines, quoted replies ("> ..."),
common typos, lower case and the odd shouted message, as messages arrive.
"""

from __future__ import annotations

import json
import random
import re

PRODUCTS = ("billing_portal", "mobile_app", "web_dashboard", "api", "integrations", "other")
CATEGORIES = ("billing", "bug", "how_to", "account_access", "cancellation", "feature_request")
URGENCIES = ("low", "normal", "high")
# Categories where asking for money back is natural; how-to questions and feature requests never do.
REFUND_CATEGORIES = ("billing", "bug", "account_access", "cancellation")

# ---------------------------------------------------------------------------------------------------
# Products: noun phrases (with their article), the preposition that reads well before them, the
# things a customer does with them (how-to questions, bug reports), features they could ask for,
# and details that only make sense for that product. `other` names none of the five products.
# ---------------------------------------------------------------------------------------------------

PRODUCT_NAMES: dict[str, tuple[str, ...]] = {
    "billing_portal": (
        "the billing portal",
        "the billing page",
        "the billing section",
        "your billing portal",
        "the payments page",
        "the billing settings page",
        "the invoices page in the billing portal",
        "the customer billing portal",
        "the subscription & billing page",
        "the billing area of my account",
    ),
    "mobile_app": (
        "the mobile app",
        "the iOS app",
        "the Android app",
        "your phone app",
        "the iPhone app",
        "the app on my phone",
        "the iPad app",
        "your mobile app",
        "the Android version of the app",
        "the app on my Pixel",
    ),
    "web_dashboard": (
        "the web dashboard",
        "the web app",
        "the dashboard",
        "the browser version",
        "the admin dashboard",
        "your web dashboard",
        "the online dashboard",
        "the web interface",
        "the desktop web app",
        "the dashboard in Chrome",
    ),
    "api": (
        "the API",
        "the REST API",
        "the webhooks API",
        "your API",
        "the public API",
        "the v2 API",
        "the GraphQL API",
        "the API endpoints",
        "the orders endpoint of your API",
        "your developer API",
    ),
    "integrations": (
        "the Slack integration",
        "the Zapier connector",
        "the Salesforce integration",
        "the HubSpot integration",
        "the Google Sheets integration",
        "the Jira connector",
        "the Microsoft Teams integration",
        "the Shopify integration",
        "your QuickBooks connector",
        "the Zapier integration",
    ),
    "other": (
        "your software",
        "the product",
        "your platform",
        "the tool",
        "your service",
        "the system",
        "your product",
        "the software",
        "our workspace",
        "your tool",
    ),
}

PREPOSITIONS: dict[str, tuple[str, ...]] = {
    "billing_portal": ("in", "on"),
    "mobile_app": ("in", "on"),
    "web_dashboard": ("in", "on"),
    "api": ("with", "through", "via"),
    "integrations": ("with", "through", "via"),
    "other": ("in", "with"),
}

PRODUCT_TASKS: dict[str, tuple[str, ...]] = {
    "billing_portal": (
        "download past invoices",
        "change the card on file",
        "add our VAT number to invoices",
        "update the billing email",
        "switch from monthly to annual billing",
        "see what we'll be charged next month",
        "add a second billing contact",
        "change the company address on invoices",
    ),
    "mobile_app": (
        "turn on push notifications",
        "use it offline",
        "scan a barcode",
        "upload photos from the camera roll",
        "switch between workspaces",
        "enable Face ID",
        "sync my data",
        "change the language",
    ),
    "web_dashboard": (
        "export a report to CSV",
        "change the default currency",
        "save a filtered view",
        "share a dashboard with a colleague",
        "change the date range",
        "add a custom widget",
        "bulk-edit records",
        "rearrange the columns",
    ),
    "api": (
        "paginate through results",
        "create a webhook",
        "rotate an API key",
        "filter orders by date",
        "upload a file",
        "authenticate with OAuth",
        "set a custom field",
        "batch-create records",
    ),
    "integrations": (
        "map custom fields",
        "sync contacts both ways",
        "choose which channel gets notifications",
        "trigger a zap on new orders",
        "re-authorize the connection",
        "sync historical data",
        "filter which records get synced",
        "connect a second workspace",
    ),
    "other": (
        "import a CSV",
        "add a new user",
        "export all our data",
        "set up recurring tasks",
        "change the time zone",
        "merge duplicate records",
        "create a template",
        "archive old projects",
    ),
}

PRODUCT_FEATURES: dict[str, tuple[str, ...]] = {
    "billing_portal": (
        "PDF invoices with our PO number on them",
        "paying by bank transfer",
        "multiple billing contacts",
        "a downloadable yearly statement",
        "invoices in euros",
        "a separate payment method per team",
        "usage breakdowns per department",
        "email reminders before renewal",
    ),
    "mobile_app": (
        "dark mode",
        "an offline mode",
        "a home screen widget",
        "Face ID login",
        "a proper tablet layout",
        "push notification settings per project",
        "Apple Watch support",
        "landscape mode",
    ),
    "web_dashboard": (
        "keyboard shortcuts",
        "custom date ranges",
        "saved views",
        "a dark theme",
        "drag-and-drop widgets",
        "scheduled report emails",
        "bulk editing",
        "column pinning",
    ),
    "api": (
        "bulk endpoints",
        "higher rate limits",
        "webhook retries",
        "an official Python SDK",
        "cursor-based pagination",
        "an OpenAPI spec",
        "sandbox API keys",
        "idempotency keys",
    ),
    "integrations": (
        "two-way sync",
        "support for Slack threads",
        "custom field mapping",
        "syncing every 5 minutes instead of hourly",
        "support for multiple Salesforce orgs",
        "filters on which records sync",
        "an alert when a sync fails",
        "syncing attachments too",
    ),
    "other": (
        "a Spanish translation",
        "an audit log",
        "custom user roles",
        "a calendar view",
        "a Gantt chart",
        "recurring tasks",
        "an undo button",
        "custom fields on contacts",
    ),
}

PRODUCT_DETAILS: dict[str, tuple[str, ...]] = {
    "billing_portal": (
        "I'm the account owner so I should see everything there.",
        "It's the page where the invoices are listed.",
        "Our finance team uses that page every month.",
    ),
    "mobile_app": (
        "I'm on iOS 17.4, app version 5.2.1.",
        "Phone is a Samsung Galaxy S23 on Android 14.",
        "I reinstalled the app already.",
        "Same thing on my wife's iPhone.",
    ),
    "web_dashboard": (
        "I'm using Chrome 124 on Windows 11.",
        "Tried Firefox and Safari too.",
        "I cleared the browser cache already.",
        "It's the same for everyone on our team in the browser.",
    ),
    "api": (
        "We call it from a Node service in production.",
        "Request id req_8f3a21 if that helps.",
        "Our client code hasn't changed in months.",
        "We're well under the documented rate limit.",
    ),
    "integrations": (
        "We set it up about a year ago.",
        "Reconnecting it didn't change anything.",
        "It's connected with our admin's account.",
        "The sync log just says 'task failed'.",
    ),
    "other": (),
}

# ---------------------------------------------------------------------------------------------------
# Categories: core sentences with {p} (product phrase), {P} (capitalised), {in_p} (with preposition),
# {task}, {feature}, {symptom}, {amt}, {amt2}, {seats}, {users}, {when}, {reason}; plus details.
# ---------------------------------------------------------------------------------------------------

SYMPTOMS = (
    "throws an error",
    "freezes",
    "just spins forever",
    "shows a blank page",
    "crashes",
    "fails silently",
    "times out",
    "says 'something went wrong'",
    "returns a 500",
    "hangs and then errors out",
    "does nothing at all",
    "duplicates everything",
    "shows the wrong numbers",
    "errors out with code E{code}",
)

WHEN = (
    "the update on tuesday",
    "yesterday afternoon",
    "last week's release",
    "Monday morning",
    "the weekend",
    "your maintenance window",
    "the last update",
    "about three days ago",
)

# Billing: where the customer sees a charge ("seen") works for every product; being charged "for" a
# product reads oddly for the billing portal itself, so it is left out there.
BILLING_SEEN = (
    "{P} shows two charges for this month.",
    "{P} says we owe ${amt} but our plan is ${amt2}.",
    "In {p} I can see we were charged twice on the same day.",
    "The invoice I downloaded from {p} has the annual price, but we're on monthly.",
    "{P} lists a ${amt} charge I don't recognise.",
    "According to {p} we were billed for {seats} seats, but we only have {users} users.",
    "{P} still shows the old price after we downgraded.",
)
BILLING_FOR = (
    "{P} charged us for {seats} seats but we only have {users} users.",
    "I was charged twice this month for {p}.",
    "There's a ${amt} charge for {p} on our card that I don't recognise.",
    "The subscription for {p} renewed at ${amt} instead of ${amt2}.",
    "We were billed for {p} after we downgraded last month.",
    "I upgraded {p} mid-month and got charged the full ${amt} instead of the prorated amount.",
    "We're being charged for {p} even though we never turned it on.",
    "Why did the bill for {p} go up from ${amt2} to ${amt} this month?",
    "Our card was charged three times for {p} this morning.",
    "We still get billed for {seats} seats on {p} after I removed most of our users.",
)
BILLING_DETAILS = (
    "Our plan is supposed to be ${amt2} a month.",
    "I've attached a screenshot of the card statement.",
    "Our accountant flagged it this morning.",
    "This has happened twice now.",
    "The tax line looks wrong too.",
    "We changed plans on the 3rd.",
)

BUG = (
    "Every time I try to {task} {in_p}, it {symptom}.",
    "{P} {symptom} whenever I {task}.",
    "something is broken: {p} {symptom} when I {task}.",
    "Bug report: trying to {task} {in_p} {symptom}.",
    "{P} is broken. I can't {task}, it {symptom}.",
    "Since {when}, {p} {symptom} every time I {task}.",
    "Not sure if it's just us but {p} {symptom} when we {task}.",
    "{P} stopped working properly. Trying to {task} {symptom}.",
    "we keep getting errors {in_p} when we {task}. it {symptom}.",
    "{P} has been really flaky lately: it {symptom} about half the time I {task}.",
    "Is {p} down? It {symptom} whenever I try to {task}.",
    "I think I found a bug {in_p}: when I {task} it {symptom}.",
)
BUG_DETAILS = (
    "It started after {when}.",
    "steps: open it, try again, wait, nothing.",
    "It happens every single time.",
    "Screenshot attached.",
    "I already tried logging out and back in.",
    "Happens for my colleagues too.",
    "It worked fine until {when}.",
    "Restarting didn't help.",
)

HOW_TO = (
    "How do I {task} {in_p}?",
    "Where can I {task} {in_p}?",
    "Is there a way to {task} {in_p}?",
    "Quick question: can I {task} {in_p}, and if so how?",
    "Could you walk me through how to {task} {in_p}?",
    "I'm trying to figure out how to {task} {in_p}.",
    "What's the best way to {task} {in_p}?",
    "Can you point me to the docs for how to {task} {in_p}?",
    "I'm new to {p}. How would I {task}?",
    "how do u {task} {in_p}??",
    "Is it possible to {task} {in_p}?",
    "Our team wants to {task} {in_p} but we can't work out the steps.",
)
HOW_TO_DETAILS = (
    "I looked through the help center but couldn't find it.",
    "A link to the right article would be great.",
    "Sorry if this is a dumb question.",
    "I'm setting things up for a new colleague.",
    "The docs seem to describe an older version.",
    "Step-by-step would be ideal.",
)

ACCESS = (
    "I'm locked out of {p} after too many attempts.",
    "I can't log in to {p}: it says my password is wrong but I just reset it.",
    "The password reset email for {p} never arrives.",
    "{P} won't accept my 2FA code anymore.",
    "I got a new phone, lost my authenticator and now I can't get into {p}.",
    "My login for {p} stopped working this morning.",
    "Our admin left the company and now nobody can sign in to {p}.",
    "Signing in to {p} with SSO just loops back to the login screen.",
    "{P} says my account is deactivated and won't let me in.",
    "I can't sign in to {p} with my work email anymore.",
    "The magic link to log into {p} has expired every time I click it.",
    "My colleague's login for {p} got locked and she needs access back.",
)
# For the API and the integrations, access means signing in to the account behind them.
ACCESS_BY_PRODUCT: dict[str, tuple[str, ...]] = {
    "api": (
        "Our API key stopped authenticating and I can't log in to get a new one for {p}.",
        "I'm locked out of the account that owns our keys for {p}, so we can't authenticate.",
        "I can't sign in to the developer settings to manage keys for {p}, my password reset never arrives.",
        "The admin who created our credentials for {p} left and we can't get into that account.",
    ),
    "integrations": (
        "I can't reconnect {p}: it asks me to sign in and then says my account is locked.",
        "When I try to log in to authorize {p} it says my user doesn't have access anymore.",
        "To set up {p} I have to sign in, but my login was disabled and I can't get back in.",
        "I'm locked out of the admin account that {p} is connected to.",
    ),
}
ACCESS_DETAILS = (
    "I'm using the same email as always.",
    "I already tried resetting my password twice.",
    "Checked spam, nothing there.",
    "I'm the only admin on the account.",
    "It worked fine last week.",
    "My username is the same as my email.",
)

# Cancellation: the product as the thing cancelled ("of"), or as where the customer tried to cancel
# ("via"); cancelling the billing portal itself reads oddly, so it only gets the "via" phrasings and
# the one from the public examples.
CANCEL_OF = (
    "Please cancel our subscription to {p}.",
    "stop the renewal please, {p} isn't what we need.",
    "I'd like to cancel {p} at the end of this term.",
    "We won't be renewing {p}, please close our account.",
    "Please turn off auto-renew for {p}.",
    "We're moving away from {p}, please cancel everything on our side.",
    "Cancel {p} for our team, effective immediately.",
    "Consider this our notice to cancel {p}.",
    "I want to unsubscribe from {p} and delete our account.",
    "Please don't renew {p} for another year.",
    "We've decided to end our plan. {P} was the main reason we signed up, and it isn't working out.",
)
CANCEL_VIA = (
    "I tried to cancel {in_p} but there's no button for it, so please cancel our plan for us.",
    "Please cancel our subscription. {P} only lets me downgrade, not cancel.",
    "The cancel option {in_p} is greyed out, so please just cancel our account from your side.",
    "I want to cancel our plan and {p} keeps sending me to a page that doesn't exist.",
    "stop the renewal please, {p} isn't what we need.",
    "We'd like to close our account. I couldn't do it {in_p} myself, so please cancel it for us.",
)
CANCEL_VIA_PRODUCTS = ("billing_portal", "mobile_app", "web_dashboard")
CANCEL_REASONS = (
    "we found a tool that fits our workflow better.",
    "budget cuts, nothing personal.",
    "the project it was for has ended.",
    "we're consolidating vendors.",
    "we just don't use it enough.",
    "our company was acquired and we're moving to their stack.",
    "it's too expensive for a team our size.",
    "we only needed it for one season.",
    "the team that used it was disbanded.",
    "honestly it's been too unreliable for us.",
)
CANCEL_REASON_LEADS = ("Reason:", "Why:", "FYI", "For context,", "Honestly", "")

FEATURE = (
    "we'd love {feature} in {p}",
    "Please add {feature} to {p}.",
    "Any plans to support {feature} {in_p}?",
    "Feature request: {feature} {in_p}.",
    "It would be great if {p} had {feature}.",
    "Suggestion: {feature} for {p}.",
    "Could you consider adding {feature} to {p}?",
    "{P} really needs {feature}.",
    "One thing missing from {p} is {feature}.",
    "Would you be open to building {feature} into {p}?",
    "I'd vote for {feature} in {p} if there's a roadmap.",
    "We'd move the whole team over if {p} got {feature}.",
)
FEATURE_DETAILS = (
    "Our whole team has been asking for this.",
    "Happy to beta test it.",
    "A competitor we looked at already has it.",
    "Love the product otherwise!",
    "It would save us hours every week.",
    "Just an idea, take it or leave it.",
)

CORE: dict[str, tuple[str, ...]] = {
    "bug": BUG,
    "how_to": HOW_TO,
    "feature_request": FEATURE,
}
DETAILS: dict[str, tuple[str, ...]] = {
    "billing": BILLING_DETAILS,
    "bug": BUG_DETAILS,
    "how_to": HOW_TO_DETAILS,
    "account_access": ACCESS_DETAILS,
    "cancellation": (),
    "feature_request": FEATURE_DETAILS,
}

# ---------------------------------------------------------------------------------------------------
# Refund: sentences that ask for money back (true), and money talk that asks for nothing back (false).
# ---------------------------------------------------------------------------------------------------

REFUND_ASK: dict[str, tuple[str, ...]] = {
    "billing": (
        "I want a refund.",
        "Please refund the extra charge.",
        "Can I get my money back for the duplicate payment?",
        "Please send the ${amt} back to my card.",
        "We'd like the overcharge refunded.",
        "Please reverse the charge and refund it.",
        "refund pls",
        "I expect a full refund for this month.",
        "Please refund the difference.",
        "Can you refund us for the extra seats?",
    ),
    "bug": (
        "Given it's been broken since {when}, I'd like a refund for this month.",
        "Honestly, I want my money back for this month.",
        "Please refund us for the time it's been broken.",
        "We'd like a partial refund for the days we couldn't use it.",
        "I'm paying for something that doesn't work, so please refund this month's charge.",
        "Please credit the ${amt} back to our card, we couldn't use it at all.",
    ),
    "account_access": (
        "We've been paying for weeks without being able to log in, so please refund that.",
        "I'd like this month refunded since I couldn't get in.",
        "Please refund the seat for my colleague, she's been locked out all month.",
        "Can I get my money back for the time I've been locked out?",
        "I want a refund for the days we couldn't access anything.",
    ),
    "cancellation": (
        "Please refund the unused months.",
        "I'd like a refund for the renewal that went through yesterday.",
        "And refund the rest of the annual plan please.",
        "Can we get our money back for the remaining months?",
        "Please refund this month's charge, we haven't used it at all.",
        "Since we were auto-renewed without notice, we want that ${amt} refunded.",
    ),
}

MONEY_NO_REFUND: dict[str, tuple[str, ...]] = {
    "billing": (
        "Can you fix the invoice?",
        "Please correct this before the next billing cycle.",
        "Can someone explain this charge?",
        "I just need a corrected invoice for our accountant.",
        "Please make sure it doesn't happen again next month.",
        "Not asking for money back, just want the invoice corrected.",
        "No refund needed, just fix it going forward.",
        "Could you send an updated invoice with the right amount?",
    ),
    "bug": (
        "We pay ${amt} a month for this, so please get it fixed.",
        "We're on the paid plan, I'd expect this to work.",
        "Not looking for a refund, I just need it working.",
    ),
    "account_access": (
        "We're a paying customer and this is frustrating.",
        "We pay for {seats} seats and none of us can get in.",
        "I don't want a refund, I just need to get back in.",
    ),
    "cancellation": (
        "No refund needed, just make sure we're not charged again.",
        "I understand the current period isn't refundable, that's fine.",
        "Just don't bill us again.",
        "We'll keep using it until the end of the term.",
        "We paid ${amt} for the year and that's fine, just don't renew it.",
    ),
    "how_to": (
        "We're on the paid plan, if that matters.",
        "We pay for the Pro plan so I assume it's included.",
    ),
    "feature_request": (
        "We'd happily pay a bit more for it.",
        "We'd upgrade to the ${amt} plan if it had this.",
    ),
}

# ---------------------------------------------------------------------------------------------------
# Urgency. Normal says nothing about timing; low says there is no rush, even when it uses "urgent".
# ---------------------------------------------------------------------------------------------------

URGENCY_HIGH = (
    "This is urgent.",
    "URGENT!!",
    "This is blocking our whole team.",
    "We go live tomorrow and this is blocking us.",
    "Critical for us right now.",
    "Please treat this as urgent.",
    "This is a blocker for us.",
    "urgent please",
    "Need this ASAP, it's blocking our launch.",
    "this is costing us money every hour.",
    "It's blocking our month-end close.",
    "Our entire sales team is blocked by this.",
    "Urgent: we have a client demo in an hour.",
    "Priority: HIGH",
    "This is time-critical for us.",
    "Emergency, we can't work until this is sorted.",
    "Please escalate, this is urgent.",
    "We're completely blocked.",
    "Really urgent, sorry for the caps.",
    "Blocking issue for us!",
    "Need an answer today please, it's urgent.",
    "This is holding up payroll, so it's urgent.",
)
URGENCY_LOW = (
    "No rush.",
    "no hurry :(",
    "Not urgent, whenever you get a chance.",
    "No rush at all, just curious.",
    "Low priority on our side.",
    "Take your time with this one.",
    "It can wait till next week, no rush.",
    "no hurry on this",
    "Whenever you have a moment, no rush.",
    "This isn't time-sensitive.",
    "Not a big deal, no rush.",
    "There's no rush on this.",
    "Not urgent!",
    "Low priority, just flagging it.",
    "Any time this week is fine.",
    "No pressure, whenever works.",
    "It's not urgent at all.",
    "nothing urgent, just wondering",
    "Feel free to get to this whenever, no hurry.",
    "no rush whatsoever",
    "(not urgent)",
    "Priority: low",
)
NEUTRAL = (
    "Thanks in advance.",
    "Appreciate any help.",
    "Let me know if you need more info.",
    "Hope you're doing well.",
    "Long-time user here.",
    "First time writing in.",
    "not happy about this.",
    "Thanks so much!",
    "We're a team of {users} on the Pro plan.",
    "I'm the admin for our workspace.",
    "Our IT person is out this week so I'm writing in myself.",
    "Sorry for the long email.",
)

# ---------------------------------------------------------------------------------------------------
# Order ids and the numbers that are not order ids.
# ---------------------------------------------------------------------------------------------------

ORDER_LINES = (
    "Order: {oid}",
    "order #: {oid}",
    "My order number is {oid}.",
    "This is about order {oid}.",
    "(order {oid})",
    "Ref: {oid}",
    "Order ID {oid}",
    "The order in question is {oid}.",
    "re {oid}",
    "Order number {oid}, in case you need it.",
    "It's order {oid}.",
    "For reference, order {oid}.",
    "order {oid}",
    "Our order is {oid}.",
)
DISTRACTOR_LINES = (
    "Ticket #{n6} is still open from last time.",
    "ticket #{n6} was closed without a fix.",
    "I already opened case {n8}.",
    "Case number: {n8}",
    "The invoice number is INV-{year}-{n4}.",
    "invoice #{n5}",
    "My account number is {n8}.",
    "Account #: {n7}",
    "account ID AC-{n5}",
    "Our PO number is PO-{n5}.",
    "(case ref CS-{n5})",
    "Customer ID: {n7}",
    "Ticket T-{n5}",
    "ref ticket {n5}",
    "Invoice {n5} is the one I mean.",
)

# ---------------------------------------------------------------------------------------------------
# The envelope: greetings, subject lines, signatures, quoted replies, typos.
# ---------------------------------------------------------------------------------------------------

GREETINGS = (
    "Hi,",
    "Hello,",
    "Hey there,",
    "Good morning,",
    "Good afternoon,",
    "Dear Support,",
    "To whom it may concern,",
    "hi team",
    "Hi support team,",
    "Hiya,",
    "Hello support,",
    "Hey,",
    "Hi all,",
    "Dear team,",
    "Morning,",
    "hello",
    "Hi there!",
    "Greetings,",
    "Hey folks,",
    "Dear Sir or Madam,",
)
SIGNOFFS = (
    "Thanks,",
    "thx",
    "Regards,",
    "Best regards,",
    "Cheers,",
    "Kind regards,",
    "Best,",
    "Thank you!",
    "Sincerely,",
    "Many thanks,",
    "Thanks again,",
    "Appreciate it,",
    "ty",
    "All the best,",
    "Warm regards,",
)
NAMES = (
    "Fatima",
    "Maria",
    "John",
    "Priya Raman",
    "Tom",
    "Wei Chen",
    "Sarah K.",
    "Ahmed",
    "Lucas Oliveira",
    "Emma",
    "Kenji Watanabe",
    "Olga",
    "Daniel Murphy",
    "Aisha",
    "Carlos",
    "Hannah Becker",
    "Mike",
    "Nadia",
    "Sven Larsson",
    "Grace O'Connor",
    "Raj",
    "Chloe",
    "Ivan Petrov",
    "Zoe",
    "Mateo",
    "Amara Okafor",
    "Ben",
    "Lena",
    "Yusuf",
    "Jess",
)
TITLES = (
    "Ops Manager",
    "CTO",
    "Office Manager",
    "Founder",
    "Head of Finance",
    "Lead Developer",
    "IT Admin",
    "Marketing Coordinator",
    "Bookkeeper",
    "Customer Success Lead",
)
COMPANIES = (
    "Acme Corp",
    "Brightline Dental",
    "Northwind Traders",
    "Kestrel Logistics",
    "Blue Fern Studio",
    "Oakridge Realty",
    "Pixelhaus",
    "Tandem Legal",
    "Harbor & Pine",
    "Lumen Analytics",
    "Greenleaf Bakery",
    "Summit Physio",
    "Riverside Motors",
    "Copperpot Media",
    "Atlas Freight",
)
# Footers a phone mail client adds; they name the customer's device, not the product.
DEVICE_FOOTERS = (
    "Sent from my iPhone",
    "Sent from my iPad",
    "Sent from my Samsung Galaxy smartphone.",
    "Get Outlook for Android",
    "Get Outlook for iOS",
    "Sent from my phone, please excuse typos",
)
SUBJECTS: dict[str, tuple[str, ...]] = {
    "billing": ("double charge", "Question about my invoice", "Wrong amount billed", "charges??"),
    "bug": ("bug", "Something's broken", "Error again", "not working"),
    "how_to": ("Quick question", "How to?", "question", "Help please"),
    "account_access": ("Can't log in", "Locked out", "login problem", "Access issue"),
    "cancellation": ("Cancel subscription", "Cancellation request", "cancel", "Not renewing"),
    "feature_request": ("Feature request", "Idea", "Suggestion", "Wishlist item"),
}
QUOTE_HEADERS = (
    "On {day}, {company_short} Support <support@example.com> wrote:",
    "On {day} at 9:14 AM, Support Team wrote:",
    "--- Previous message ---",
    "Support wrote:",
    "On {day}, Helpdesk <help@example.com> wrote:",
)
QUOTE_LINES = (
    "Thanks for reaching out to us.",
    "Could you share a bit more detail about what you're seeing?",
    "We're looking into this and will get back to you shortly.",
    "Your request has been logged as ticket #{n6}.",
    "Is there anything else we can help with?",
    "Could you send us a screenshot?",
    "We've passed this on to the right team.",
    "Apologies for the delay in getting back to you.",
    "Just checking in to see if you still need help.",
    "Can you confirm the email address on your account?",
    "This ticket will close automatically in 7 days.",
    "Case {n8} has been updated.",
)
DAYS = ("Mon, Mar 3, 2025", "Tue, Jan 14", "Friday", "Wed, 12 Jun 2024", "Thu, Oct 2", "Sat, 5 Apr 2025")

# Common misspellings and shorthand; none of these words carry a label.
TYPOS: dict[str, tuple[str, ...]] = {
    "please": ("pls", "plz", "pleas"),
    "thanks": ("thx", "thnks", "thanx"),
    "because": ("becuase", "bc", "cuz"),
    "really": ("realy", "rly"),
    "the": ("teh", "th"),
    "you": ("u", "yuo"),
    "your": ("ur", "you're", "yor"),
    "already": ("allready", "alredy"),
    "something": ("somthing", "smth"),
    "which": ("wich",),
    "again": ("agian",),
    "since": ("sicne",),
    "before": ("befor",),
    "working": ("workin", "wokring"),
    "would": ("woudl",),
    "could": ("coudl",),
    "know": ("kno",),
    "doesn't": ("doesnt", "dosent"),
    "can't": ("cant",),
    "i'm": ("im",),
    "don't": ("dont",),
    "isn't": ("isnt",),
    "there": ("ther", "their"),
    "every": ("evry",),
    "team": ("teem",),
    "with": ("wiht",),
    "about": ("abotu",),
    "think": ("thnk",),
}

ORDER_ID_RE = re.compile(r"ORD-\d{5}")
WORD_RE = re.compile(r"[A-Za-z']+")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _numbers(rng: random.Random) -> dict[str, str]:
    """Fresh filler numbers for one message."""
    return {
        "amt": str(rng.choice((19, 29, 49, 79, 99, 149, 199, 249, 480, 1200))),
        "amt2": str(rng.choice((9, 15, 25, 39, 59, 89))),
        "seats": str(rng.randint(12, 80)),
        "users": str(rng.randint(2, 11)),
        "code": str(rng.randint(100, 999)),
        "n4": f"{rng.randint(0, 9999):04d}",
        "n5": f"{rng.randint(10000, 99999)}",
        "n6": f"{rng.randint(100000, 999999)}",
        "n7": f"{rng.randint(1000000, 9999999)}",
        "n8": f"{rng.randint(0, 99999999):08d}",
        "year": str(rng.choice((2023, 2024, 2025))),
    }


def _fill(rng: random.Random, template: str, slots: dict[str, str]) -> str:
    """Fill a template; {when} and {symptom} are drawn per use."""
    values = dict(slots)
    values["when"] = rng.choice(WHEN)
    values["symptom"] = rng.choice(SYMPTOMS).format(code=slots["code"])
    return template.format(**values)


def _core_sentences(rng: random.Random, product: str, category: str, slots: dict[str, str]) -> list[str]:
    """The request itself: one sentence for the category, and now and then a detail or two."""
    if category == "billing":
        pool = BILLING_SEEN if product == "billing_portal" else BILLING_SEEN + BILLING_FOR
    elif category == "account_access":
        pool = ACCESS_BY_PRODUCT[product] if product in ACCESS_BY_PRODUCT and rng.random() < 0.6 else ACCESS
    elif category == "cancellation":
        if product == "billing_portal":
            pool = CANCEL_VIA
        elif product in CANCEL_VIA_PRODUCTS:
            pool = CANCEL_OF + CANCEL_VIA
        else:
            pool = CANCEL_OF
    else:
        pool = CORE[category]
    sentences = [_fill(rng, rng.choice(pool), slots)]
    if category == "cancellation" and rng.random() < 0.7:
        lead = rng.choice(CANCEL_REASON_LEADS)
        reason = rng.choice(CANCEL_REASONS)
        sentences.append(f"{lead} {reason}" if lead else _cap(reason))
    details = DETAILS[category]
    picked = rng.sample(details, min(len(details), rng.choice((0, 0, 1, 1, 2))))
    sentences += [_fill(rng, detail, slots) for detail in picked]
    if PRODUCT_DETAILS[product] and category in ("bug", "account_access", "how_to") and rng.random() < 0.35:
        sentences.append(rng.choice(PRODUCT_DETAILS[product]))
    return sentences


def _insert(rng: random.Random, sentences: list[str], sentence: str, lo: int = 0) -> None:
    sentences.insert(rng.randint(lo, len(sentences)), sentence)


def _body(rng: random.Random, fields: dict[str, object], slots: dict[str, str]) -> list[str]:
    """All sentences of the message body, labels expressed exactly once each."""
    product, category = str(fields["product"]), str(fields["category"])
    sentences = _core_sentences(rng, product, category, slots)
    if fields["refund_requested"]:
        sentences.append(_fill(rng, rng.choice(REFUND_ASK[category]), slots))
    elif rng.random() < 0.45:
        _insert(rng, sentences, _fill(rng, rng.choice(MONEY_NO_REFUND[category]), slots), lo=1)
    if fields["urgency"] == "high":
        _insert(rng, sentences, rng.choice(URGENCY_HIGH))
    elif fields["urgency"] == "low":
        _insert(rng, sentences, rng.choice(URGENCY_LOW))
    if fields["order_id"]:
        _insert(rng, sentences, rng.choice(ORDER_LINES).format(oid=fields["order_id"]))
    if rng.random() < 0.45:
        _insert(rng, sentences, rng.choice(DISTRACTOR_LINES).format(**slots))
    if rng.random() < 0.4:
        _insert(rng, sentences, rng.choice(NEUTRAL).format(**slots))
    return sentences


def _signature(rng: random.Random) -> str:
    name, signoff = rng.choice(NAMES), rng.choice(SIGNOFFS)
    style = rng.randrange(9)
    if style == 0:
        lines = [signoff, name]
    elif style == 1:
        lines = [signoff, name, f"{rng.choice(TITLES)}, {rng.choice(COMPANIES)}"]
    elif style == 2:
        lines = ["-- ", f"{name} | {rng.choice(COMPANIES)}", f"+1 555 {rng.randint(1000, 9999)}"]
    elif style == 3:
        lines = [name]
    elif style == 4:
        lines = [f"{signoff} {name}"]
    elif style == 5:
        lines = [signoff, name, rng.choice(DEVICE_FOOTERS)]
    elif style == 6:
        lines = [rng.choice(DEVICE_FOOTERS)]
    elif style == 7:
        lines = [f"{name} ({rng.choice(COMPANIES)})"]
    else:
        lines = []
    return "\n".join(lines)


def _quote(rng: random.Random, slots: dict[str, str]) -> str:
    header = rng.choice(QUOTE_HEADERS).format(
        day=rng.choice(DAYS), company_short=rng.choice(("Acme", "Our", "The"))
    )
    lines = [f"> Hi {rng.choice(NAMES).split()[0]},"] if rng.random() < 0.5 else []
    lines += [f"> {line.format(**slots)}" for line in rng.sample(QUOTE_LINES, rng.randint(1, 3))]
    return "\n".join([header, *lines])


def _typos(rng: random.Random, text: str) -> str:
    rate = rng.choice((0.15, 0.25, 0.4))

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        options = TYPOS.get(word.lower())
        if not options or rng.random() > rate:
            return word
        typo = rng.choice(options)
        return _cap(typo) if word[:1].isupper() else typo

    return WORD_RE.sub(swap, text)


def _lower_keep_order_ids(text: str) -> str:
    parts = ORDER_ID_RE.split(text)
    ids = ORDER_ID_RE.findall(text)
    out = [parts[0].lower()]
    for order_id, part in zip(ids, parts[1:], strict=True):
        out += [order_id, part.lower()]
    return "".join(out)


def _message(rng: random.Random, fields: dict[str, object]) -> str:
    """Compose one customer message that says exactly what `fields` say."""
    product, category = str(fields["product"]), str(fields["category"])
    name = rng.choice(PRODUCT_NAMES[product])
    slots = _numbers(rng)
    slots.update(p=name, P=_cap(name), in_p=f"{rng.choice(PREPOSITIONS[product])} {name}")
    slots.update(task=rng.choice(PRODUCT_TASKS[product]), feature=rng.choice(PRODUCT_FEATURES[product]))
    sentences = _body(rng, fields, slots)
    separator = rng.choice(("\n", " ", "  ", "\n", " "))
    body = separator.join(sentences)
    if rng.random() < 0.15:
        body = _typos(rng, body)

    blocks: list[str] = []
    if rng.random() < 0.2:
        subject = rng.choice(SUBJECTS[category])
        if fields["urgency"] == "high" and rng.random() < 0.5:
            subject = f"URGENT: {subject}"
        blocks.append(f"Subject: {subject}\n")
    if rng.random() < 0.08:
        blocks.append(_quote(rng, slots) + "\n")
    greeting = rng.choice(GREETINGS) if rng.random() < 0.8 else ""
    if greeting and rng.random() < 0.25:
        blocks.append(f"{greeting} {body}")
    elif greeting:
        blocks.append(greeting + rng.choice(("\n", "\n\n")) + body)
    else:
        blocks.append(body)
    signature = _signature(rng)
    if signature:
        blocks.append(signature)
    if rng.random() < 0.12:
        blocks.append("\n" + _quote(rng, slots))
    text = "\n".join(blocks)

    style = rng.random()
    if style < 0.12:
        text = _lower_keep_order_ids(text)
    elif style < 0.15:
        text = text.upper()
    return text


def _balanced(rng: random.Random, values: tuple, count: int) -> list:
    """`count` values, each appearing equally often (up to one), in random order."""
    out = [values[i % len(values)] for i in range(count)]
    rng.shuffle(out)
    return out


def _fields(rng: random.Random, count: int) -> list[dict[str, object]]:
    """The labels first: each field spread evenly over its values, independently of the others."""
    products = _balanced(rng, PRODUCTS, count)
    categories = _balanced(rng, CATEGORIES, count)
    urgencies = _balanced(rng, URGENCIES, count)
    has_order = _balanced(rng, (True, False), count)
    refundable = sum(category in REFUND_CATEGORIES for category in categories)
    refunds = iter(_balanced(rng, (True, False), refundable))
    rows: list[dict[str, object]] = []
    for product, category, urgency, ordered in zip(products, categories, urgencies, has_order, strict=True):
        rows.append(
            {
                "product": product,
                "category": category,
                "urgency": urgency,
                "refund_requested": next(refunds) if category in REFUND_CATEGORIES else False,
                "order_id": f"ORD-{rng.randint(10000, 99999)}" if ordered else None,
            }
        )
    return rows


def task_examples(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(customer message, JSON output) pairs, labels chosen first and spread evenly, messages distinct."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for fields in _fields(rng, count):
        for _ in range(50):
            message = _message(rng, fields)
            if message not in seen:
                break
        seen.add(message)
        pairs.append((message, json.dumps(fields)))
    return pairs
