package onestop.fhir;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.CodeSystem;
import org.hl7.fhir.r4.model.StructureDefinition;
import org.hl7.fhir.r4.model.ValueSet;

/**
 * Validates FHIR R4 JSON resources with HAPI's instance validator, offline.
 *
 * <pre>
 *   Validate [--definitions DIR] PATH...
 * </pre>
 *
 * PATH is a JSON file or a folder of them. DIR holds conformance resources of
 * our own (the extensions' StructureDefinitions, our CodeSystems), so that
 * they are checked against their definition rather than waved through as
 * unknown. Prints one
 * JSON line per file: {"file", "errors", "warnings", "messages": [...]}; exits
 * 0 when it could read every file, whatever the findings (the caller judges).
 */
public final class Validate {
  public static void main(String[] args) throws IOException {
    FhirContext ctx = FhirContext.forR4();
    PrePopulatedValidationSupport ours = new PrePopulatedValidationSupport(ctx);
    List<Path> inputs = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--definitions")) {
        for (Path p : jsonFiles(Path.of(args[++i]))) {
          IBaseResource r = ctx.newJsonParser().parseResource(Files.readString(p));
          if (r instanceof StructureDefinition sd) ours.addStructureDefinition(sd);
          else if (r instanceof CodeSystem cs) ours.addCodeSystem(cs);
          else if (r instanceof ValueSet vs) ours.addValueSet(vs);
          else throw new IllegalArgumentException(p + ": not a StructureDefinition, CodeSystem or ValueSet");
        }
      } else {
        inputs.add(Path.of(args[i]));
      }
    }
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(ctx),
            ours,
            new SnapshotGeneratingValidationSupport(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx));
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    // Extensions must be known: an unknown URL is an error, not a silent pass.
    module.setAnyExtensionsAllowed(false);
    // The Subscriptions Backport IG's extensions are HL7's, but its package is
    // not among HAPI's built-in definitions (offline): its domain is allowed.
    module.setCustomExtensionDomains("http://hl7.org/fhir/uv/subscriptions-backport");
    FhirValidator validator = ctx.newValidator().registerValidatorModule(module);

    StringBuilder out = new StringBuilder();
    for (Path input : inputs) {
      for (Path file : jsonFiles(input)) {
        ValidationResult result =
            validator.validateWithResult(Files.readString(file, StandardCharsets.UTF_8));
        int errors = 0;
        int warnings = 0;
        StringBuilder messages = new StringBuilder();
        for (SingleValidationMessage m : result.getMessages()) {
          switch (m.getSeverity()) {
            case ERROR, FATAL -> errors++;
            case WARNING -> warnings++;
            default -> {}
          }
          if (messages.length() > 0) messages.append(',');
          messages
              .append("{\"severity\":")
              .append(quote(m.getSeverity().getCode()))
              .append(",\"location\":")
              .append(quote(m.getLocationString()))
              .append(",\"message\":")
              .append(quote(m.getMessage()))
              .append('}');
        }
        out.append("{\"file\":")
            .append(quote(file.toString()))
            .append(",\"errors\":")
            .append(errors)
            .append(",\"warnings\":")
            .append(warnings)
            .append(",\"messages\":[")
            .append(messages)
            .append("]}\n");
      }
    }
    System.out.print(out);
    System.out.flush();
  }

  private static List<Path> jsonFiles(Path p) throws IOException {
    if (!Files.isDirectory(p)) return List.of(p);
    try (Stream<Path> s = Files.list(p)) {
      return s.filter(f -> f.toString().endsWith(".json")).sorted().toList();
    }
  }

  private static String quote(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }
}
