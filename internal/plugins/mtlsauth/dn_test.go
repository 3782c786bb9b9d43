package mtlsauth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func atv(oid asn1.ObjectIdentifier, tag int, b []byte) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: b}}
}

func TestFormatDN(t *testing.T) {
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	ou := asn1.ObjectIdentifier{2, 5, 4, 11}
	o := asn1.ObjectIdentifier{2, 5, 4, 10}
	c := asn1.ObjectIdentifier{2, 5, 4, 6}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	unknown := asn1.ObjectIdentifier{1, 2, 3, 4}
	tests := []struct {
		name string
		rdns pkix.RDNSequence
		want string
	}{
		{"Kong's test certificate, last RDN first",
			pkix.RDNSequence{
				{atv(c, tagPrintableString, []byte("CA"))},
				{atv(o, tagUTF8String, []byte("Kong"))},
				{atv(ou, tagUTF8String, []byte("Gateway"))},
				{atv(cn, tagUTF8String, []byte("KongSDET"))},
				{atv(email, tagIA5String, []byte("kong@konghq.com"))},
			},
			"emailAddress=kong@konghq.com,CN=KongSDET,OU=Gateway,O=Kong,C=CA"},
		{"RFC 2253 specials, leading and trailing spaces, leading #",
			pkix.RDNSequence{{atv(cn, tagUTF8String, []byte(` a,b+c"d\e<f>g;h `))}, {atv(o, tagUTF8String, []byte("#1"))}},
			`O=\#1,CN=\ a\,b\+c\"d\\e\<f\>g\;h\ `},
		{"control bytes and UTF-8 as \\XX",
			pkix.RDNSequence{{atv(cn, tagUTF8String, []byte("J\u00fcrgen\r\nX"))}},
			`CN=J\C3\BCrgen\0D\0AX`},
		{"BMPString and T61String",
			pkix.RDNSequence{{atv(cn, tagBMPString, []byte{0, 'h', 0, 'i'})}, {atv(o, tagT61String, []byte{'a', 0xe9})}},
			`O=a\C3\A9,CN=hi`},
		{"multi-valued RDN and an unknown attribute type",
			pkix.RDNSequence{{atv(cn, tagUTF8String, []byte("a")), atv(unknown, tagUTF8String, []byte("x"))}},
			"1.2.3.4=#0C0178+CN=a"}, // DER sorts a SET OF
		{"empty", pkix.RDNSequence{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := asn1.Marshal(tt.rdns)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatDN(der); got != tt.want {
				t.Errorf("formatDN = %q, want %q", got, tt.want)
			}
		})
	}
	if got := formatDN([]byte{1, 2, 3}); got != "" {
		t.Errorf("malformed DER: %q", got)
	}
}
