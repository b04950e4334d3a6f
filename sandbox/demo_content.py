"""What demo data is drawn from: names by language, weighted pools, the shop's texts.

Pure data, shared by ``demo`` (a bot a person can explore), ``seed`` (synthetic chat users
for benchmarks) and ``visitors`` (live chats). A weighted pool is a tuple in which a value
repeats as often as its weight, so drawing one index is uniform and the weights come free.
"""

from __future__ import annotations

DAY_MS = 86_400_000
HISTORY_DAYS = 90

# Names by language, so a chat user's name fits the language they write in.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "it": (
        ("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Alessandro", "Sara", "Matteo", "Elena", "Davide"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"),
    ),
    "en": (
        ("Olivia", "James", "Emma", "Oliver", "Amelia", "Harry", "Sophie", "Jack", "Grace", "Thomas"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker", "Wright", "Hughes"),
    ),
    "es": (
        ("Lucia", "Hugo", "Martina", "Pablo", "Paula", "Daniel", "Carmen", "Alvaro", "Sofia", "Diego"),
        ("Garcia", "Martinez", "Lopez", "Sanchez", "Perez", "Gomez", "Fernandez", "Ruiz", "Diaz", "Moreno"),
    ),
    "de": (
        ("Mia", "Leon", "Hannah", "Felix", "Lena", "Jonas", "Laura", "Paul", "Anna", "Lukas"),
        (
            "Muller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Koch",
        ),
    ),
    "fr": (
        ("Louise", "Gabriel", "Chloe", "Arthur", "Camille", "Louis", "Manon", "Jules", "Ines", "Hugo"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"),
    ),
}
NAMES[""] = NAMES["en"]
# Weighted pools: drawing one index is uniform, the repetitions give the weights.
LANGUAGE_POOL = ("it",) * 35 + ("en",) * 30 + ("es",) * 10 + ("de",) * 8 + ("fr",) * 7 + ("",) * 10
CHANNEL_POOL = (
    ("webchat",) * 45
    + ("whatsapp",) * 25
    + ("messenger",) * 10
    + ("instagram",) * 10
    + ("telegram",) * 5
    + ("api",) * 5
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.test")
# Country code plus the first digit of a mobile number; each prefix has 9 digits after it.
PHONE_PREFIXES = ("+393", "+447", "+346", "+4915", "+336", "+3519")
TAGS = (
    ("VIP", "#d4af37"),
    ("Lead", "#1e88e5"),
    ("Customer", "#43a047"),
    ("Newsletter", "#8e24aa"),
    ("Support", "#e53935"),
    ("Wholesale", "#6d4c41"),
    ("Returning", "#00897b"),
    ("Abandoned cart", "#fb8c00"),
    ("Black Friday", "#212121"),
    ("Influencer", "#d81b60"),
    ("Beta tester", "#3949ab"),
    ("Churn risk", "#c0ca33"),
)
PLANS = ("free", "starter", "pro", "business")
CITIES = (
    "Milano",
    "Roma",
    "Torino",
    "London",
    "Manchester",
    "Madrid",
    "Barcelona",
    "Berlin",
    "Munich",
    "Paris",
    "Lyon",
    "Lisbon",
)
VARIABLE_TYPES = (("plan", "string"), ("city", "string"), ("orders", "number"), ("score", "number"))

INTERACTIONS = (
    (
        "shipping_times",
        "How long does shipping take?",
        "Orders ship within 24 hours and arrive in 2-4 working days.",
    ),
    ("shipping_cost", "How much is shipping?", "Shipping is free over 49 EUR, otherwise 4.90 EUR."),
    ("shipping_countries", "Do you ship abroad?", "We ship to every EU country, the UK and Switzerland."),
    ("order_status", "Where is my order?", "Open My orders and select the order to see its tracking link."),
    ("order_change", "Can I change my order?", "You can change an order until it ships, from My orders."),
    ("order_cancel", "How do I cancel an order?", "Open My orders, choose the order and press Cancel."),
    ("returns_policy", "What is your return policy?", "You can return any item within 30 days of delivery."),
    (
        "returns_how",
        "How do I return an item?",
        "Start a return from My orders; we email you a prepaid label.",
    ),
    (
        "refund_time",
        "When will I get my refund?",
        "Refunds reach your account within 5 working days of the return.",
    ),
    (
        "payment_methods",
        "Which payment methods do you accept?",
        "Cards, PayPal, Apple Pay, Google Pay and bank transfer.",
    ),
    (
        "payment_failed",
        "My payment failed, what now?",
        "Check the card details or try another method; no charge was made.",
    ),
    ("invoice", "Can I get an invoice?", "Add your VAT number at checkout and the invoice comes by email."),
    ("discount_code", "Where do I enter a discount code?", "Enter it in the cart, under the order summary."),
    (
        "discount_expired",
        "My discount code does not work",
        "Codes are valid once per customer and before their end date.",
    ),
    ("newsletter", "How do I subscribe to the newsletter?", "Leave your email at the bottom of any page."),
    (
        "account_create",
        "How do I create an account?",
        "Press Sign in, then Create account, and confirm your email.",
    ),
    ("password_reset", "I forgot my password", "Press Sign in, then Forgot password, and follow the email."),
    (
        "account_delete",
        "How do I delete my account?",
        "Write to privacy@example.com and we delete it within 30 days.",
    ),
    ("sizes", "How do I find my size?", "Every product page has a size guide next to the size picker."),
    ("stock", "When will an item be back in stock?", "Press Notify me on the product page to get an email."),
    ("gift_card", "Do you sell gift cards?", "Yes, from 25 to 500 EUR, delivered by email."),
    ("gift_wrap", "Can you wrap a gift?", "Choose gift wrapping at checkout for 3 EUR."),
    (
        "store_hours",
        "What are your opening hours?",
        "Customer care answers Monday to Saturday, 9:00 to 19:00.",
    ),
    ("contact_human", "Can I talk to a person?", "Of course, I am passing you to a colleague now."),
    ("warranty", "Is there a warranty?", "Every product has a two-year warranty."),
    (
        "loyalty",
        "How does the loyalty program work?",
        "You earn one point per euro; 100 points are a 5 EUR voucher.",
    ),
    ("spedizione", "Quanto costa la spedizione?", "La spedizione e gratuita sopra i 49 EUR."),
    ("reso", "Come faccio un reso?", "Apri I miei ordini e scegli Reso: ti inviamo un'etichetta prepagata."),
    ("pagamento", "Quali pagamenti accettate?", "Carte, PayPal, Apple Pay, Google Pay e bonifico."),
    ("orari", "Quando siete aperti?", "Il servizio clienti risponde dal lunedi al sabato, 9-19."),
)

CONVERSATIONS = (
    (
        ("user", "Hi, where is my order?"),
        ("bot", "I can help! What is your order number?"),
        ("user", "It's 10234"),
        ("bot", "Order 10234 shipped yesterday and arrives within 2 working days."),
    ),
    (
        ("user", "Do you ship to Switzerland?"),
        ("bot", "Yes, we ship to every EU country, the UK and Switzerland."),
        ("user", "And how much is it?"),
        ("bot", "Shipping is free over 49 EUR, otherwise 4.90 EUR."),
    ),
    (
        ("user", "I want to return a jacket"),
        ("bot", "You can return any item within 30 days of delivery."),
        ("user", "How do I get the label?"),
        ("bot", "Start a return from My orders and we email you a prepaid label."),
    ),
    (
        ("user", "My discount code does not work"),
        ("bot", "Codes are valid once per customer. Which code is it?"),
        ("user", "WELCOME10"),
        ("bot", "That code was already used on an earlier order."),
    ),
    (
        ("user", "Ciao, quanto costa la spedizione?"),
        ("bot", "La spedizione e gratuita sopra i 49 EUR."),
        ("user", "Grazie!"),
        ("bot", "Di nulla, buona giornata!"),
    ),
    (
        ("user", "Which size should I take? I'm usually an M"),
        ("bot", "Our sizes run true; M should fit you."),
        ("user", "Perfect, thanks"),
    ),
)
HANDOVER = (
    ("user", "Can I talk to a person?"),
    ("bot", "Of course, I am passing you to a colleague now."),
    ("agent", "Hi, this is customer care. How can I help?"),
    ("user", "I was charged twice for the same order"),
    ("agent", "I see it: the second charge is a pre-authorisation and disappears within 3 days."),
)
VISITOR_LINES = (
    "Hello!",
    "Is this item available in blue?",
    "How long does delivery take?",
    "Do you have a store in Milan?",
    "Can I pay with PayPal?",
    "Thanks a lot",
    "I need help with my order",
    "What is the return policy?",
)
# What a visitor writes when they want a person instead of the bot: the session then waits
# for an agent (``visitors.visitor_step``).
HUMAN_REQUESTS = (
    "Can I talk to a person?",
    "I'd like to speak to a human, please",
    "This is not helping, is there someone from customer care?",
    "Posso parlare con un operatore?",
    "Can an agent call me back about my order?",
)
BOT_REPLIES = (
    "Happy to help!",
    "Let me check that for you.",
    "Delivery takes 2-4 working days.",
    "You can pay with cards, PayPal, Apple Pay and Google Pay.",
    "You can return any item within 30 days.",
)
FEEDBACK_COMMENTS = {
    5: ("Super fast answer, thanks!", "Great service", "Solved in a minute", ""),
    4: ("Good, but it took a while", "Helpful", ""),
    3: ("Okay", "Had to ask twice", ""),
    2: ("The bot did not understand me", "Too slow"),
    1: ("Useless", "Nobody answered my question"),
}
RATING_POOL = (5,) * 45 + (4,) * 25 + (3,) * 12 + (2,) * 8 + (1,) * 10
LEADS = (
    ("Acme Logistics", "acme-logistics.example", "IT"),
    ("Northwind Traders", "northwind.example", "GB"),
    ("Globex Retail", "globex-retail.example", "DE"),
    ("Initech Services", "initech.example", "US"),
    ("Umbrella Pharma", "umbrella-pharma.example", "CH"),
    ("Stark Textiles", "stark-textiles.example", "IT"),
    ("Wayne Hospitality", "wayne-hospitality.example", "FR"),
    ("Hooli Media", "hooli.example", "US"),
    ("Vandelay Import", "vandelay.example", "ES"),
    ("Soylent Foods", "soylent-foods.example", "NL"),
    ("Tyrell Robotics", "tyrell.example", "DE"),
    ("Cyberdyne Systems", "cyberdyne.example", "US"),
    ("Pied Piper", "piedpiper.example", "US"),
    ("Massive Dynamic", "massive-dynamic.example", "GB"),
    ("Oscorp Energy", "oscorp-energy.example", "IT"),
)
LEAD_TAGS = ("hot", "enterprise", "follow-up", "partner", "newsletter")
LEAD_PAGES = (
    "/",
    "/pricing",
    "/products",
    "/products/jackets",
    "/cart",
    "/about",
    "/contact",
    "/blog/sizing",
)
ROLES = ("CEO", "Head of Sales", "Procurement Manager", "Marketing Director", "Operations Lead")
