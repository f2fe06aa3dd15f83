package fastflux.cli;

import fastflux.pruning.Option;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.TypeConversionException;

/**
 * The command line of registry options ({@link Option}): one picocli option each, its flag the option's name, its help
 * the option's help and default, its converter the option's parser and range check (so a value out of range is a
 * usage error before any work); and the values a parse gave. A boolean option is {@code --NAME} / {@code --no-NAME}.
 */
final class OptionFlags {
    private OptionFlags() {}

    /** Adds {@code options} to {@code spec}, and each renamed flag as a hidden one that errs naming its new spelling. */
    static void add(CommandSpec spec, List<Option<?>> options) {
        for (Option<?> o : options) {
            spec.addOption(optionSpec(o));
            if (o.renamedFlag() != null) {
                spec.addOption(OptionSpec.builder(o.renamedFlag()).hidden(true).arity(o.renamedFlagTakesValue() ? "1" : "0")
                        .type(o.renamedFlagTakesValue() ? String.class : boolean.class).build());
            }
        }
    }

    private static <T> OptionSpec optionSpec(Option<T> o) {
        String def = o.kind() == Option.Kind.BOOL ? (Boolean.TRUE.equals(o.defaultValue()) ? "on" : "off") : o.defaultText();
        String help = o.help() + (o.required() ? " (required)" : def.isEmpty() ? "" : " (default " + def + ")");
        // picocli formats descriptions (%n is a line break): a literal % is %%. A required option is checked by the
        // command, after an unknown option has been named.
        OptionSpec.Builder b = OptionSpec.builder(o.flag()).description(help.replace("%", "%%"));
        if (o.kind() == Option.Kind.BOOL) return b.negatable(true).arity("0").type(Boolean.class).build();
        ITypeConverter<T> parse = text -> {
            try {
                return o.parse(text);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        };
        b.type(o.type()).arity("1").paramLabel(o.label()).converters(parse);
        if (!o.choices().isEmpty()) b.completionCandidates(o.choices());
        return b.build();
    }

    /**
     * The options the command line gave, typed and checked. A renamed flag is a usage error naming the new one.
     *
     * @throws ParameterException for a renamed flag
     */
    static Map<Option<?>, Object> given(CommandSpec spec, List<Option<?>> options) {
        ParseResult pr = spec.commandLine().getParseResult();
        Map<Option<?>, Object> given = new LinkedHashMap<>();
        for (Option<?> o : options) {
            if (o.renamedFlag() != null && pr.hasMatchedOption(o.renamedFlag())) {
                throw new ParameterException(spec.commandLine(), o.renamedFlag() + " is now " + o.renamedTo());
            }
            if (pr.hasMatchedOption(o.flag())) given.put(o, pr.matchedOptionValue(o.flag(), null));
        }
        return given;
    }
}
