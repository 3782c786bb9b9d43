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

// rule is a pattern of the list, case-sensitive, and the literals it
// cannot match without. An unanchored pattern runs on the agent when one
// of them is there. With at, every match starts with one of them: the
// pattern (written with ^) is tried where each occurs, only where that
// starts a word when word is set (Kong's leading \b), so a long agent
// costs one short anchored try per occurrence, not a scan.
type rule struct {
	need     []string
	pattern  string
	at, word bool
}

var badAgentRules = []rule{
	// Pingdom
	{[]string{"Pingdom.com_bot_version_"}, `Pingdom\.com_bot_version_\d+\.\d`, false, false},
	// Facebook
	{[]string{"facebookexternalhit/"}, `facebookexternalhit/\d+\.\d`, false, false},
	// Google Plus
	{[]string{"/+/web/snippet"}, `Google.*/\+/web/snippet`, false, false},
	// AWS S3 clients
	{[]string{"Boto", "JetS3t", "aws-", "s3fs"}, `^(?:Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/\d+\.\d`, true, true},
	// PTST / WebPageTest.org crawlers
	{[]string{" PTST/"}, `^ PTST/\d+(?:\.)?\d+$`, true, false},
	// bots as '/name-0.0' (Nutch is a word, spiders a fold word, the
	// '/...bot' form slashBot)
	{[]string{"Axtaris", "fetchurl", "Isara", "ShopSalad", "Tailsweep"}, `/(?:Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-]\d`, false, false},
	// bots as 'name/0.0' (the plain names are versionedNames)
	{[]string{"Y!J-BR"}, `^Y!J-BR[A-Z]/\d`, true, true},
	// MSIECrawler
	{[]string{" MSIECrawler"}, `MSIE \d+\.\d+(?:[a-z]\d|[a-z]|);.* MSIECrawler`, false, false},
	// downloaders (the rest are words)
	{[]string{"unirest-"}, `unirest-(?:java|python|ruby|nodejs|php|net)`, false, false},
	// bots (the rest are words)
	{[]string{"Accoona-"}, `Accoona-[A-z]{1,30}-Agent`, false, false},
	{[]string{".org_bot"}, `archive.{0,30}\.org_bot`, false, false},
	{[]string{"com-dc"}, `boitho.com-dc`, false, false},
	{[]string{"favicon"}, `\b\w{0,30}favicon\w{0,30}\b`, false, false},
	{[]string{"Yeti"}, `^Yeti`, true, true},
	{[]string{"IP2"}, `IP2[a-z]{1,30}Bot`, false, false},
	{[]string{"jbot"}, `jbot\b`, false, false},
	{[]string{"Microsoft "}, `Microsoft .{0,30} Bot`, false, false},
	{[]string{"NING", "vortex", "voyager", "Zao"}, `^(?:NING|vortex|voyager|Zao)`, false, false},
	{[]string{"WASALive"}, `WASALive.Bot`, false, false},
	{[]string{"WeSEE:"}, `WeSEE:[A-z]`, false, false},
	{[]string{" Link Sleuth"}, `Xenu(?:.s|) Link Sleuth`, false, false},
	{[]string{"Xerka "}, `Xerka [A-z]{1,30}Bot`, false, false},
	{[]string{"Yandex"}, `Yandex\w`, false, false},
}
