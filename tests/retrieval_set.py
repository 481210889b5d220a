"""A small labelled retrieval set: made-up facts (no model can know them), distractors that share their
topics and vocabulary, and questions each answered by exactly one fact.

Half the questions paraphrase their fact (few shared words: keyword search struggles), half name a rare
term from it (a code, a name: embeddings of short texts blur those). Used by
`benchmarks/retrieval.py` and by `tests/unit/test_retrieval_quality.py`.
"""

from __future__ import annotations

FACTS: dict[str, str] = {
    "zorblat": "The Zorblat festival is held every March in Quexville, where dancers wear copper masks.",
    "trivex": "Trivex engines burn compressed seaweed; Ilsa Marrow built the first one in 1887.",
    "glimmer": "Glimmerfish live only in Lake Ondry and glow violet when the water turns cold.",
    "velloran": "The Velloran treaty was signed on a floating barge, ending the salt dispute.",
    "parnassine": "The Parnassine lighthouse is painted teal and its lamp burns whale-free oil.",
    "orrery": "In the Hollin workshop every orrery gear is cut from walnut rather than brass.",
    "code": "The vault of the Marrowind archive opens with code 7741-QX.",
    "moss": "Brindlewick farmers harvest silver moss twice a year to stuff winter pillows.",
    "kelp": "Deepwater kelp from the Osk shelf is dried on racks and sold as roofing thatch.",
    "quokka": "A census in 2031 counted 4,711 quokkas on Tarrow island.",
    "bell": "The great bell of Sennick cracked during the frost of 1702 and was never recast.",
    "tea": "Mistvale growers steep their tea leaves in goat milk before drying them.",
    "bridge": "The Aldren bridge is built of glass bricks and closes whenever hail falls.",
    "clock": "The town clock of Ferrow runs seven minutes slow on purpose to honour a dead mayor.",
    "owl": "Snow owls of the Keth range nest only inside abandoned copper mines.",
    "bread": "Bakers in Lunport add crushed pine needles to their rye loaves.",
    "river": "The river Tamsel flows backwards for one hour at every spring tide.",
    "coin": "The Varr mint stamps its coins with a fox on one face and a wheat sheaf on the other.",
    "library": "The Oster library lends books only to readers who can recite its founding poem.",
    "comet": "Astronomers at Pellhaven named the comet Ysolde-9 after a ship's cat.",
}

DISTRACTORS: list[str] = [
    "The Marrow spring fair is held in April in Dunley, where singers wear paper crowns.",
    "Steam engines in Pellbrook burn coal; the first one there was built in 1850.",
    "Silverfish live in old libraries and shun the light when disturbed.",
    "The Harl accord was signed in a mountain chapel, ending the timber quarrel.",
    "The Osken lighthouse is painted red and its lamp burns paraffin.",
    "In the Brask workshop every clock gear is cut from brass rather than wood.",
    "The archive of Dunmere keeps its ledgers in oak chests sealed with wax.",
    "Farmers in Elmbrook harvest barley once a year and store it in stone barns.",
    "Seaweed from the Tarrow coast is boiled down to make soap and glue.",
    "A survey in 2029 counted 300 wallabies on the mainland reserve.",
    "The chapel bell of Orrin was recast in 1810 after a fire.",
    "Growers in Hallow dry their tea leaves in the sun for three days.",
    "The Corven bridge is built of granite and has nine arches.",
    "The harbour clock of Lunport is wound by hand every Sunday morning.",
    "Barn owls of the lowlands nest in church towers and old barns.",
    "Bakers in Quexville sell honey cakes during the winter market.",
    "The river Ondry floods the valley meadows every autumn.",
    "The Sennick mint stamps its coins with a crown and the year of issue.",
    "The Ferrow library opens at dawn and closes at dusk in summer.",
    "Astronomers at Keth observatory catalogued four hundred faint stars.",
    "Dancers at the Hollin carnival wear feathered masks and bells.",
    "Engines that burn wood were common in the Marrowind valley.",
    "Violet dye is made from crushed shells gathered at low tide.",
    "The salt merchants of Varr met yearly to settle their prices.",
]

QUERIES: list[tuple[str, str]] = [
    # Paraphrases: few words shared with the fact.
    ("Which spring celebration has performers in metal face coverings?", "zorblat"),
    ("What fuel do those old motors run on, made from the ocean?", "trivex"),
    ("Where can you find the fish that shine purple in chilly water?", "glimmer"),
    ("Which peace agreement was concluded aboard a boat on the water?", "velloran"),
    ("Which coastal tower has a blue-green coat of paint?", "parnassine"),
    ("Where are the planetarium model's cogs made of timber instead of metal?", "orrery"),
    ("What do growers stuff their cushions with for the cold season?", "moss"),
    ("Which sea plant ends up covering houses as a roof?", "kelp"),
    ("Where do cooks put evergreen leaves into the dough?", "bread"),
    ("Which stream runs the wrong way when the sea is high?", "river"),
    # Rare terms: a name, a code, a number.
    ("Marrowind vault code", "code"),
    ("Tarrow quokka count", "quokka"),
    ("Sennick great bell 1702", "bell"),
    ("Mistvale tea", "tea"),
    ("Aldren bridge", "bridge"),
    ("Ferrow town clock", "clock"),
    ("Keth snow owls nesting", "owl"),
    ("Varr coin design", "coin"),
    ("Oster library borrowing rule", "library"),
    ("Ysolde-9", "comet"),
]
