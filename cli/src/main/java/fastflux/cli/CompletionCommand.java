package fastflux.cli;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code fastflux completion}: the bash/zsh completion script of every command and option (picocli's AutoComplete). */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"print a bash/zsh completion script of every command and option",
            "bash: source <(fastflux completion); zsh: autoload -U +X bashcompinit && bashcompinit, then the same"})
final class CompletionCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().getOut().print(AutoComplete.bash("fastflux", spec.root().commandLine()));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
