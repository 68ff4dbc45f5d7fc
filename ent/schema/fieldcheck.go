package schema

import (
	"context"
	"errors"
	"reflect"

	"entgo.io/ent"

	"roster/internal/apierr"
)

// checkFields returns a hook that runs the validators of every field a
// mutation sets (those of the schema's Fields: Validate, MaxLen, NotEmpty…)
// and reports every field that fails at once, as an apierr.List: a form
// marks them all, where ent itself stops at the first. more adds checks
// that need more than one field (a password that must not be the email).
// Place it after the hooks that normalise values, so that it judges what
// is stored.
func checkFields(fields []ent.Field, more ...func(context.Context, ent.Mutation) *apierr.Error) ent.Hook {
	type checked struct {
		name       string
		validators []reflect.Value
	}
	var all []checked
	for _, f := range fields {
		d := f.Descriptor()
		c := checked{name: d.Name}
		for _, v := range d.Validators {
			if fn := reflect.ValueOf(v); fn.Kind() == reflect.Func && fn.Type().NumIn() == 1 && fn.Type().NumOut() == 1 {
				c.validators = append(c.validators, fn)
			}
		}
		if len(c.validators) > 0 {
			all = append(all, c)
		}
	}
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			var errs apierr.List
			for _, c := range all {
				v, ok := m.Field(c.name)
				if !ok {
					continue
				}
				for _, fn := range c.validators {
					arg := reflect.ValueOf(v)
					if !arg.IsValid() || !arg.Type().AssignableTo(fn.Type().In(0)) {
						continue
					}
					if err, _ := fn.Call([]reflect.Value{arg})[0].Interface().(error); err != nil {
						errs = append(errs, fieldError(c.name, err))
						break
					}
				}
			}
			for _, check := range more {
				if e := check(ctx, m); e != nil {
					errs = append(errs, e)
				}
			}
			if len(errs) > 0 {
				return nil, errs
			}
			return next.Mutate(ctx, m)
		})
	}
}

// fieldError names the field of a validator's error.
func fieldError(name string, err error) *apierr.Error {
	var invalid *apierr.Invalid
	if errors.As(err, &invalid) {
		return apierr.Input(apierr.FieldName(name), "%s", invalid.Reason)
	}
	// ent's own validators (MaxLen, NotEmpty…) say "value is less than
	// the required length" and the like.
	return apierr.Input(apierr.FieldName(name), "is not valid")
}
