package plugin

// MaxLogValues is how many fields plugins may add to one request's log
// object; they are held in the Ctx itself, so that adding one allocates
// nothing.
const MaxLogValues = 4

// LogValue is a field a plugin added to the request's log object.
type LogValue struct{ Key, Value string }

// SetLogValue sets the top-level field key of the request's log object
// (the one the log plugins serialize) to the string value, as Kong's
// kong.log.set_serialize_value does for a top-level key: the correlation
// id plugin's correlation_id. Setting a key again replaces its value;
// past MaxLogValues keys, a new key is ignored. key must not be one of
// the log object's own fields.
func (c *Ctx) SetLogValue(key, value string) {
	for i := range c.nLogValues {
		if c.logValues[i].Key == key {
			c.logValues[i].Value = value
			return
		}
	}
	if c.nLogValues < MaxLogValues {
		c.logValues[c.nLogValues] = LogValue{key, value}
		c.nLogValues++
	}
}

// LogValues are the fields set by SetLogValue, in the order first set.
func (c *Ctx) LogValues() []LogValue { return c.logValues[:c.nLogValues] }
