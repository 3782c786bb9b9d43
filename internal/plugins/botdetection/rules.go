package botdetection

// Kong's built-in list (kong/plugins/bot-detection/rules.lua, from
// ua-parser's uap-core regexes.yaml) is fourteen regexes run one by one,
// unanchored and case-sensitive. Only whether one matches counts, so each
// is kept here by its meaning: the parts that may match nothing (optional
// version suffixes, optional leading context) are dropped, since a match
// of the rest is a match of the whole; the plain names of its two long
// alternations are words looked up as substrings; and a pattern another
// one implies is left out (any "spider" or "crawl", in any case, is a
// bot by the last rule). Each pattern runs only when the agent holds one
// of the literals it cannot match without, and the rules with common
// words in them are plain code (match.go). RE2 runs Kong's forms at about
// 2 µs a byte of agent (25 ms for a random 4 KiB agent); these cost a few
// microseconds. TestRulesMeanKongs checks the two agree.

// badAgentWords are names whose presence anywhere marks a bot or an HTTP
// library.
var badAgentWords = []string{
	"Google-HTTP-Java-Client", "Apache-HttpClient", "Go-http-client", "scalaj-http", "http%20client",
	"Python-urllib", "HttpMonitor", "TLSProber", "WinHTTP", "JNLP", "okhttp", "aihttp", "reqwest",
	"axios", "CSimpleSpider", "Cityreview Robot", "CrawlDaddy", "CrawlFire", "Finderbots",
	"Index crawler", "Job Roboter", "KiwiStatus Spider", "Lijit Crawler", "QuerySeekerSpider",
	"ScollSpider", "Trends Crawler", "USyd-NLP-Spider", "SiteCat Webbot", "123metaspider-Bot",
	"8bo Crawler Bot", "Aboundex", "altavista", "AppEngine-Google", "archiver", "Ask Jeeves",
	"bingbot", "BingPreview", "blitzbot", "BlogBridge", "Bloglovin", "BoardReader Blog Indexer",
	"BoardReader Favicon Fetcher", "BotSeer", "BUbiNG", "Checklinks", "clumboot",
	"Comodo-Webinspector-Crawler", "ConveraCrawler", "CRAWL-E", "CrawlConvera", "Feed Seeker Bot",
	"Feedbin", "findlinks", "Flamingo_SearchEngine", "FollowSite Bot", "furlbot", "Genieo", "gigabot",
	"GomezAgent", "gonzo1", "Google SketchUp", "grub-client", "gsa-crawler", "heritrix",
	"HiddenMarket", "holmes", "HooWWWer", "htdig", "ia_archiver", "ICC-Crawler", "Icarus6j",
	"IconSurf", "InfuzApp", "Innovazion Crawler", "InternetArchive", "KaloogaBot", "Kraken", "Kurzor",
	"larbin", "LEIA", "LesnikBot", "Linguee Bot", "LinkAider", "LinkedInBot", "Lite Bot", "Llaut",
	"lycos", "masscan", "masidani_bot", "Mediapartners-Google", "mogimogi", "mozDex", "MJ12bot",
	"msrbot", "Mtps Feed Aggregation System", "netresearch", "Netvibes", "Nymesis", "ObjectsSearch",
	"OgScrper", "Orbiter", "OOZBOT", "PagePeeker", "PagesInventory", "PaxleFramework",
	"Peeplo Screenshot Bot", "PlantyNet_WebRobot", "Pompos", "Qwantify", "Read%20Later", "Reaper",
	"RedCarpet", "Retreiver", "Riddler", "Rival IQ", "scooter", "Scrapy", "Scrubby", "searchsight",
	"seekbot", "semanticdiscovery", "SemrushBot", "Simpy", "SimplePie", "SEOstats", "SimpleRSS",
	"SiteCon", "Slackbot-LinkExpanding", "Slack-ImgProxy", "Slurp", "snappy", "Speedy Spider",
	"Squrl Java", "Stringer", "TheUsefulbot", "ThumbShotsBot", "Tiny Tiny RSS", "Twitterbot",
	"WhatsApp", "URL2PNG", "Vagabondo", "VoilaBot", "Votay bot", "Web-sniffer", "WebThumb", "WhatWeb",
	"WIRE", "WordPress", "Wotbox", "YahooSeeker", "Yahoo! Slurp", "YottaaMonitor", "Yowedo",
	"ZooShot", "ZyBorg", "BotName/$BotVersion", "1470.net crawler", "50.nu", "AdsBot-Google",
	"Catchpoint", "Comodo HTTP(S) Crawler", "Daumoa", "Googlebot", "ichiro", "IlTrovatore",
	"Mail.RU_Bot", "msnbot", "NewsGator", "Nutch", "Thumbshots.ru", "www.almaden.ibm.com", "yacy",
	"YodaoBot", "ZeBot_www.ze.bz", "Charlotte", "charlotte", "Scrape", "scrape",
}

// badAgentFoldWords are found in any case: Kong's last rule makes any
// agent holding "spider" or "crawl" a bot, which also covers its general
// matcher's spiders and crawlers and Baidu's spider.
var badAgentFoldWords = []string{"spider", "crawl"}

// versionedNames are bots known as 'name/0.0': the name as a whole word
// (after the start or a non-word byte), then '/' and a digit.
var versionedNames = []string{"008", "Altresium", "Argus", "BaiduMobaider", "BoardReader", "DNSGroup", "DataparkSearch", "EDI", "Goodzer", "Grub", "INGRID", "Infohelfer", "LinkedInBot", "LOOQ", "Nutch", "OgScrper", "PathDefender", "Peew", "PostPost", "Steeler", "Twitterbot", "VSE", "WebCrunch", "WebZIP", "YahooSeeker", "envolk", "sproose", "wminer"}

// rule is a pattern of the list, unanchored and case-sensitive, and the
// literals it cannot match without.
type rule struct {
	need    []string
	pattern string
}

var badAgentRules = []rule{
	// Pingdom
	{[]string{"Pingdom.com_bot_version_"}, `Pingdom\.com_bot_version_\d+\.\d`},
	// Facebook
	{[]string{"facebookexternalhit/"}, `facebookexternalhit/\d+\.\d`},
	// Google Plus
	{[]string{"/+/web/snippet"}, `Google.*/\+/web/snippet`},
	// AWS S3 clients
	{[]string{"Boto", "JetS3t", "aws-", "s3fs"}, `\b(?:Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/\d+\.\d`},
	// PTST / WebPageTest.org crawlers
	{[]string{" PTST/"}, ` PTST/\d+(?:\.)?\d+$`},
	// bots as '/name-0.0' (Nutch is a word, spiders a fold word, the
	// '/...bot' form slashBot)
	{[]string{"Axtaris", "fetchurl", "Isara", "ShopSalad", "Tailsweep"}, `/(?:Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-]\d`},
	// bots as 'name/0.0' (the plain names are versionedNames)
	{[]string{"Y!J-BR"}, `\bY!J-BR[A-Z]/\d`},
	// MSIECrawler
	{[]string{" MSIECrawler"}, `MSIE \d+\.\d+(?:[a-z]\d|[a-z]|);.* MSIECrawler`},
	// downloaders (the rest are words)
	{[]string{"unirest-"}, `unirest-(?:java|python|ruby|nodejs|php|net)`},
	// bots (the rest are words)
	{[]string{"Accoona-"}, `Accoona-[A-z]{1,30}-Agent`},
	{[]string{".org_bot"}, `archive.{0,30}\.org_bot`},
	{[]string{"com-dc"}, `boitho.com-dc`},
	{[]string{"favicon"}, `\b\w{0,30}favicon\w{0,30}\b`},
	{[]string{"Yeti"}, `\bYeti`},
	{[]string{"IP2"}, `IP2[a-z]{1,30}Bot`},
	{[]string{"jbot"}, `jbot\b`},
	{[]string{"Microsoft "}, `Microsoft .{0,30} Bot`},
	{[]string{"NING", "vortex", "voyager", "Zao"}, `^(?:NING|vortex|voyager|Zao)`},
	{[]string{"WASALive"}, `WASALive.Bot`},
	{[]string{"WeSEE:"}, `WeSEE:[A-z]`},
	{[]string{" Link Sleuth"}, `Xenu(?:.s|) Link Sleuth`},
	{[]string{"Xerka "}, `Xerka [A-z]{1,30}Bot`},
	{[]string{"Yandex"}, `Yandex\w`},
}
