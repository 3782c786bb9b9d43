package botdetection

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// kongRules are Kong's built-in rules as Kong writes them
// (kong/plugins/bot-detection/rules.lua), the reference rules.go must
// agree with.
var kongRules = []string{
	// Pingdom
	`(Pingdom\.com_bot_version_)(\d+)\.(\d+)`,
	// Facebook
	`(facebookexternalhit)/(\d+)\.(\d+)`,
	// Google Plus
	`Google.*/\+/web/snippet`,
	// Twitter
	`(Twitterbot)/(\d+)\.(\d+)`,
	// AWS S3 Clients
	`\b(Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/(\d+)\.(\d+)(?:\.(\d+)|)`,
	// PTST / WebPageTest.org crawlers
	` PTST/\d+(?:\.)?\d+$`,
	// Bots Pattern '/name-0.0'
	`/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?`,
	// Bots Pattern 'name/0.0'
	`\b(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|OgScrper|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)`,
	// MSIECrawler
	`(MSIE) (\d+)\.(\d+)([a-z]\d|[a-z]|);.* MSIECrawler`,
	// Downloader
	`(Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|unirest-(?:java|python|ruby|nodejs|php|net))(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)`,
	// Bots
	`(CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]{1,30}-Agent|AdsBot-Google(?:-[a-z]{1,30}|)|altavista|AppEngine-Google|archive.{0,30}\.org_bot|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]{1,30})(?:-[A-Za-z]{1,30}|)|bingbot|BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader Blog Indexer|BoardReader Favicon Fetcher|boitho.com-dc|BotSeer|BUbiNG|\b\w{0,30}favicon\w{0,30}\b|\bYeti(?:-[a-z]{1,30}|)|Catchpoint(?: bot|)|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa(?:-feedfetcher|)|Feed Seeker Bot|Feedbin|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro(?:/mobile|)|IconSurf|IlTrovatore(?:-Setaccio|)|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]{1,30}Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|Microsoft .{0,30} Bot|mogimogi|mozDex|MJ12bot|msnbot(?:-media {0,2}|)|msrbot|Mtps Feed Aggregation System|netresearch|Netvibes|NewsGator[^/]{0,30}|^NING|Nutch[^/]{0,30}|Nymesis|ObjectsSearch|OgScrper|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]{1,30}|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s|) Link Sleuth|Xerka [A-z]{1,30}Bot|yacy(?:bot|)|YahooSeeker|Yahoo! Slurp|Yandex\w{1,30}|YodaoBot(?:-[A-z]{1,30}|)|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)`,
	// Bots General matcher 'name/0.0'
	`(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)`,
	// Bots General matcher 'name 0.0'
	`(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)`,
	// Bots containing spider|scrape|bot(but not CUBOT)|Crawl
	`((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)`,
}

// ruleWords are the names in Kong's rules: their text between regex
// syntax, unescaped.
func ruleWords() []string {
	var out []string
	unescape := strings.NewReplacer(`\.`, ".", `\/`, "/", `\$`, "$", `\(`, "(", `\)`, ")", `\!`, "!", `\-`, "-", `\+`, "+")
	for _, r := range kongRules {
		for _, w := range regexp.MustCompile(`[|()\[\]?*+{}^]`).Split(unescape.Replace(r), -1) {
			if len(w) >= 3 && !strings.ContainsAny(w, `\`) {
				out = append(out, w)
			}
		}
	}
	return out
}

// kongVerdict runs Kong's rules one by one, as its handler does.
func kongVerdict(res []*regexp.Regexp, agent string) bool {
	for _, re := range res {
		if re.MatchString(agent) {
			return true
		}
	}
	return false
}

// TestRulesMeanKongs compares the built-in list's verdicts with Kong's
// rules on agents made from every name and keyword the rules hold, in
// the contexts they appear in (version suffixes, leading slashes,
// compatible-mode browsers, the start of the agent), near misses, and
// random agents.
func TestRulesMeanKongs(t *testing.T) {
	var res []*regexp.Regexp
	for _, r := range kongRules {
		res = append(res, regexp.MustCompile(r))
	}
	in := build(t, Config{})
	r := rand.New(rand.NewPCG(7, 8))
	var agents []string
	seeds := append([]string{"archiver", "Archiver", "indexer", "Scraper", "scrape", "bot", "Bot", "BOT", "spider",
		"SPIDER", "Spider", "crawl", "Crawler", "CRAWL", "favicon", "Yeti", "Yeti-x", "NING", "vortex", "voyager", "Zao",
		"Nutch", "Ant-Nutch", "facebookexternalhit", "Pingdom.com_bot_version_", "Twitterbot", "Boto3", "aws-cli",
		"aws-sdk-dotnet-45", "aws-sdk-dotnet-456", "aws-sdk-dotnet-core", "s3fs", "JetS3t", "PTST", "MSIE 7.0b", "MSIECrawler",
		"unirest-java", "unirest-go", "Accoona-AB-Agent", "archive.x.org_bot", "BaiduSpider-xy", "Baiduspider",
		"boithoXcom-dc", "Charlotte", "IP2abcBot", "jbot", "jbotx", "Microsoft Some Thing Bot", "WASALive-Bot",
		"WeSEE:a", "WeSEE:", "Xenu Link Sleuth", "Xenu's Link Sleuth", "Xerka WebBot", "Yandex", "YandexBot", "Google/+/web/snippet",
		"LinkedInBot", "008", "wminer", "Y!J-BRW", "Googlebot-Image", "CUBOT", "Mozilla", "AppleWebKit", "/xbot", "/Bot",
		"/a_bot", "/a~bot", "abot", "Indexer"}, ruleWords()...)
	contexts := []string{"%s", "%s/1.2", "%s/1", "%s 1.0", "%s-2.0", "/%s-1.2", "/%s 3", "Mozilla/5.0 (compatible; %s/2.1; +http://x.test/bot.html)",
		"x %s", "x%sx", "x %s/1.0.3 y", "%s; ", "%s/", "%s v1.0", "x/%s", " PTST/1.23", " PTST/12", "%s 7.0b; x MSIECrawler",
		"x%s/1.0", "_%s/2", strings.Repeat("w", 31) + "%s", "%s" + strings.Repeat("w", 31), strings.Repeat("w", 30) + "%s" + strings.Repeat("w", 30)}
	for _, s := range seeds {
		for _, c := range contexts {
			agents = append(agents, strings.ReplaceAll(c, "%s", s))
		}
		if len(s) > 2 {
			agents = append(agents, s[:len(s)-1], strings.ToLower(s)+"/1.0", strings.ToUpper(s)+" 2")
		}
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /.-_;:()!+$%"
	for range 2000 {
		b := make([]byte, 1+r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		if r.IntN(2) == 0 {
			seed := seeds[r.IntN(len(seeds))]
			at := r.IntN(len(s) + 1)
			s = s[:at] + seed + s[at:]
		}
		agents = append(agents, s)
	}
	for _, a := range agents {
		if want, got := kongVerdict(res, a), in.examine(a) == verdictBot; got != want {
			t.Errorf("%q: bot %v, Kong's rules say %v", a, got, want)
		}
	}
}
