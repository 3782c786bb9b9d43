package mtlsauth

import (
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf16"
)

// rawATV and rdnSET decode a Name keeping each value's ASN.1 string type
// (encoding/asn1 drops values of types it does not know, such as
// BMPString). The SET suffix makes encoding/asn1 expect a SET OF.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rdnSET []rawATV

// shortNames are OpenSSL's short names of the attribute types in common
// use.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
}

// ASN.1 string types a DN value may have.
const (
	tagUTF8String      = 12
	tagNumericString   = 18
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagUniversalString = 28
	tagBMPString       = 30
	tagVisibleString   = 26
)

// formatDN writes a DER Name the way nginx's $ssl_client_s_dn does
// (OpenSSL's XN_FLAG_RFC2253): the last RDN first, attributes by their
// short names, multi-valued RDNs joined with '+'; in values the RFC 2253
// specials are escaped with a backslash, and control bytes and the bytes
// of non-ASCII characters as \XX. Values of an attribute type outside
// shortNames, or of a type that is not a string, are written as the
// dotted OID and '#' with the hex of their DER.
func formatDN(der []byte) string {
	var rdns []rdnSET
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return ""
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			oid := atv.Type.String()
			short, known := shortNames[oid]
			s, isString := stringValue(atv.Value)
			if !known || !isString {
				b.WriteString(oid)
				b.WriteString("=#")
				b.WriteString(strings.ToUpper(hex.EncodeToString(atv.Value.FullBytes)))
				continue
			}
			b.WriteString(short)
			b.WriteByte('=')
			writeDNValue(&b, s)
		}
	}
	return b.String()
}

// stringValue decodes the ASN.1 string types to UTF-8.
func stringValue(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case tagUTF8String, tagPrintableString, tagIA5String, tagNumericString, tagVisibleString:
		return string(v.Bytes), true
	case tagT61String:
		// Read as Latin-1, as OpenSSL does.
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case tagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(v.Bytes[2*i:])
		}
		return string(utf16.Decode(u)), true
	case tagUniversalString:
		if len(v.Bytes)%4 != 0 {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(v.Bytes); i += 4 {
			b.WriteRune(rune(binary.BigEndian.Uint32(v.Bytes[i:])))
		}
		return b.String(), true
	}
	return "", false
}

// writeDNValue escapes one attribute value as RFC 2253 and OpenSSL's
// ESC_CTRL and ESC_MSB flags ask.
func writeDNValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			writeHexEscape(b, c)
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';',
			(c == '#' || c == ' ') && i == 0,
			c == ' ' && i == len(s)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}
